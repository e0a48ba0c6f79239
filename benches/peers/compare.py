#!/usr/bin/env python3
"""recur next to ONNX Runtime (and PyTorch, if installed), interleaved, in one invocation.

    python3 benches/peers/compare.py [--threads 1 [2]] [--quick] [--workloads W1,W4] [--streams N]
                                     [--exporter helper|torch|dynamo]
    python3 benches/peers/compare.py --model my.onnx --mode step|run [--steps 1000]

For each workload (the four canonical ones, built by tools/make_workloads.py into a
temporary folder, by onnx.helper or, with --exporter, exported from PyTorch; or one ONNX
model given with --model) it converts the model with
`recur convert`, then runs ROUNDS rounds; each round measures every engine once, in an
order that alternates round by round, so that the machine's load drifts over all engines
alike. Each engine's figure is the median over rounds of its per-round median.

Engines
  ort-stream   ONNX Runtime, one `run_with_iobinding` per frame, state fed back through two
               ping-pong io_bindings of preallocated OrtValues (no rebinding, no allocation
               per call); also `session.run` with preallocated numpy feeds, and the faster of
               the two call paths is reported (step workloads)
  ort-seq      ONNX Runtime, the whole T-frame sequence per call via io_binding (run workloads)
  torch        PyTorch nn.GRU/nn.LSTM(+Linear) with the same weights, under torch.inference_mode,
               streaming (one call per frame, state fed back) or whole sequence; only if
               `import torch` works, otherwise skipped with a note
  recur        `recur bench MODEL.recur --json --threads K --isa BEST` (mode step, or
               `--mode run --steps T`); its `us_per_step.median` (µs per frame in both modes)

--streams N (step workloads; default 1, today's single stream): N independent streams
advance one frame per call. ORT gets a copy of the graph with the batch axis (axis 1 of x,
the states and the outputs, ONNX's RNN layout 0) set to N, so that one call per frame
takes x [1,N,in] and states [layers,N,H]; recur is timed with `recur bench --streams N`,
whose us_per_step is the time for all N streams to advance one frame. Both are reported
in µs per stream-step (per-call time / N); the per-call times are printed below the table.
Before timing, the batched graph is checked against N single-stream calls (one frame,
random states). Sequence (run) workloads ignore --streams.

ONNX Runtime gets: intra_op_num_threads=K, inter_op_num_threads=1, ORT_SEQUENTIAL,
ORT_ENABLE_ALL graph optimizations; with K > 1 both spinning worker threads (ORT's default)
and session.intra_op.allow_spinning=0 are timed, and the faster is reported per round.
The table's `how` column names the call path that won most rounds.

Output: one table — workload, threads, engine, µs per step (median over rounds), ratio
(engine time / recur time; > 1 means recur is faster). On a shared, loaded machine the
figures are indicative only; compare rows of the same invocation.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))

try:
    import onnxruntime as ort
except ImportError:  # pragma: no cover
    ort = None

try:
    import torch  # noqa: F401
    HAVE_TORCH = True
except Exception:  # ImportError, or a broken install
    HAVE_TORCH = False


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- timing helpers

class Timed:
    """A callable measured in batches of `calls` calls; `per` frames per call."""

    def __init__(self, fn, per=1):
        self.fn, self.per, self.calls = fn, per, 1

    def calibrate(self, target_s):
        self.fn()  # warm-up
        n = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(n):
                self.fn()
            dt = time.perf_counter() - t0
            if dt >= target_s / 4 or n >= 1 << 20:
                break
            n *= 2
        self.calls = max(1, int(n * target_s / max(dt, 1e-9)))

    def measure(self, batches):
        """Median µs per frame over `batches` batches."""
        fn, calls = self.fn, self.calls
        fn()
        us = []
        for _ in range(batches):
            t0 = time.perf_counter_ns()
            for _ in range(calls):
                fn()
            us.append((time.perf_counter_ns() - t0) / 1e3 / calls / self.per)
        return statistics.median(us)


# ---------------------------------------------------------------- ONNX Runtime

def ort_session(path, threads, spin=None):
    so = ort.SessionOptions()
    if spin is not None:  # default: worker threads spin between calls
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def _shape(dims, t=1):
    return [d if isinstance(d, int) and d > 0 else t for d in dims]


def state_pairs(sess):
    """(input name, output name) of the fed-back states: h0->hn, c0->cn, or by position."""
    ins = [i.name for i in sess.get_inputs()]
    outs = [o.name for o in sess.get_outputs()]
    pairs = []
    for k, i in enumerate(ins[1:]):
        if i.endswith("0") and i[:-1] + "n" in outs:
            pairs.append((i, i[:-1] + "n"))
        elif 1 + k < len(outs):
            pairs.append((i, outs[1 + k]))
    if len(pairs) != len(ins) - 1:
        raise SystemExit(f"cannot pair state inputs {ins[1:]} with outputs {outs}")
    return pairs


def ort_stream_paths(path, threads, frames, spin=None):
    """The two streaming call paths: io_binding ping-pong, and session.run with preallocated feeds."""
    sess = ort_session(path, threads, spin)
    xin = sess.get_inputs()[0]
    xshape = _shape(xin.shape)
    pairs = state_pairs(sess)
    oshape = {o.name: _shape(o.shape) for o in sess.get_outputs()}
    ishape = {i.name: _shape(i.shape) for i in sess.get_inputs()}
    nf = frames.shape[0]

    # io_binding: x is a numpy buffer wrapped (not copied) by an OrtValue; state buffers A and B.
    x_np = np.zeros(xshape, np.float32)
    x_ov = ort.OrtValue.ortvalue_from_numpy(x_np)
    bufs = {i: [ort.OrtValue.ortvalue_from_numpy(np.zeros(ishape[i], np.float32)) for _ in range(2)]
            for i, _ in pairs}
    y_ov = ort.OrtValue.ortvalue_from_numpy(np.zeros(oshape[sess.get_outputs()[0].name], np.float32))
    bindings = []
    for k in range(2):
        b = sess.io_binding()
        b.bind_ortvalue_input(xin.name, x_ov)
        b.bind_ortvalue_output(sess.get_outputs()[0].name, y_ov)
        for i, o in pairs:
            b.bind_ortvalue_input(i, bufs[i][k])
            b.bind_ortvalue_output(o, bufs[i][1 - k])
        bindings.append(b)
    st = {"t": 0}
    run_b = sess.run_with_iobinding

    def step_iobinding():
        t = st["t"]
        np.copyto(x_np, frames[t % nf])
        run_b(bindings[t & 1])
        st["t"] = t + 1

    # session.run with preallocated numpy feeds; the returned states are fed back.
    feeds = {xin.name: np.zeros(xshape, np.float32)}
    for i, _ in pairs:
        feeds[i] = np.zeros(ishape[i], np.float32)
    out_names = [sess.get_outputs()[0].name] + [o for _, o in pairs]
    st2 = {"t": 0}
    run = sess.run

    def step_run():
        t = st2["t"]
        feeds[xin.name] = frames[t % nf]
        res = run(out_names, feeds)
        for (i, _), v in zip(pairs, res[1:]):
            feeds[i] = v
        st2["t"] = t + 1

    return sess, {"io_binding": step_iobinding, "run": step_run}


def ort_seq(path, threads, steps, spin=None):
    sess = ort_session(path, threads, spin)
    xin = sess.get_inputs()[0]
    shape = _shape(xin.shape, steps)
    x = np.random.default_rng(7).uniform(-1, 1, size=shape).astype(np.float32)
    b = sess.io_binding()
    b.bind_ortvalue_input(xin.name, ort.OrtValue.ortvalue_from_numpy(x))
    for o in sess.get_outputs():
        b.bind_ortvalue_output(o.name, ort.OrtValue.ortvalue_from_numpy(np.zeros(_shape(o.shape, steps), np.float32)))
    for o in sess.get_outputs():
        if any(not isinstance(d, int) or d <= 0 for d in o.shape[1:]):
            b = None  # some output has an unknown non-time size: let ORT allocate
    if b is None:
        b = sess.io_binding()
        b.bind_ortvalue_input(xin.name, ort.OrtValue.ortvalue_from_numpy(x))
        for o in sess.get_outputs():
            b.bind_output(o.name)
    return lambda: sess.run_with_iobinding(b)


# ---------------------------------------------------------------- PyTorch (optional)

def torch_callable(wid, seed, mode, threads, steps, streams=1):
    """PyTorch modules with workload `wid`'s weights (canonical workloads only), built from
    the onnx.helper graph whatever exporter wrote the ONNX file."""
    import make_workloads
    import torch

    torch.set_num_threads(threads)
    rnn, fc = make_workloads.torch_modules(make_workloads.WORKLOADS[wid][0](seed))
    kind = "LSTM" if isinstance(rnn, torch.nn.LSTM) else "GRU"
    layers, i0, h = rnn.num_layers, rnn.input_size, rnn.hidden_size
    if mode == "run":
        x = torch.from_numpy(np.random.default_rng(7).uniform(-1, 1, (steps, 1, i0)).astype(np.float32))

        def seq():
            with torch.inference_mode():
                rnn(x)
        return seq
    nf = _frame_count(streams)
    frames = torch.from_numpy(np.random.default_rng(7).uniform(-1, 1, (nf, 1, streams, i0)).astype(np.float32))
    hs = torch.zeros(layers, streams, h)
    state = {"s": hs if kind == "GRU" else (hs, torch.zeros(layers, streams, h)), "t": 0}

    def step():
        with torch.inference_mode():
            y, s = rnn(frames[state["t"] % nf], state["s"])
            if fc is not None:
                fc(y)
        state["s"] = s
        state["t"] += 1
    return step


# ---------------------------------------------------------------- recur

def recur_bench(recur, model, mode, steps, threads, isa, repeats, streams=1):
    cmd = [recur, "bench", model, "--json", "--threads", str(threads), "--repeats", str(repeats)]
    if isa:
        cmd += ["--isa", isa]
    if mode == "run":
        cmd += ["--mode", "run", "--steps", str(steps)]
    elif streams > 1:
        cmd += ["--streams", str(streams)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()}")
    out = p.stdout
    rows = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    if not rows:
        raise SystemExit(f"no JSON from {' '.join(cmd)}")
    return rows


def recur_best_isa(recur, model):
    row = recur_bench(recur, model, "step", 1, 1, None, 3)[0]
    return row["chosen_isa"]


# ---------------------------------------------------------------- many streams

def batched_model(onnx_path, n, work):
    """A copy of a step graph whose batch axis (axis 1 of every rank-3 graph input and
    output: x [1,B,in], states [layers,B,H], y [1,B,out], ONNX's RNN layout 0) is N.
    Intermediate shapes are dropped; the ops of the canonical workloads (RNN ops, Slice on
    axis 0, Squeeze of the direction axis, MatMul, Add, Concat on axis 0) are batch-agnostic."""
    import onnx
    m = onnx.load(onnx_path)
    g = m.graph
    inits = {t.name for t in g.initializer}
    for v in list(g.input) + list(g.output):
        if v.name in inits:
            continue
        dims = v.type.tensor_type.shape.dim
        if len(dims) != 3:
            raise SystemExit(f"--streams: {v.name} has rank {len(dims)}, expected [T|layers, batch, features]")
        d = dims[1]
        if d.HasField("dim_value") and d.dim_value not in (1, n):
            raise SystemExit(f"--streams: {v.name} has batch {d.dim_value}, expected 1")
        d.Clear()
        d.dim_value = n
    del g.value_info[:]
    out = os.path.join(work, os.path.basename(onnx_path).rsplit(".", 1)[0] + f"_x{n}.onnx")
    onnx.save(m, out)
    return out


def check_batched(single_path, batched_path, n):
    """Largest |batched - single| over every output for one frame of N streams with random
    x and random states: the batched graph's stream k is stream k stepped alone."""
    s1, sn = ort_session(single_path, 1), ort_session(batched_path, 1)
    rng = np.random.default_rng(13)
    feeds = {i.name: rng.uniform(-1, 1, _shape(i.shape)).astype(np.float32) for i in sn.get_inputs()}
    outs = [o.name for o in sn.get_outputs()]
    got = sn.run(outs, feeds)
    worst = 0.0
    for k in range(n):
        one = s1.run(outs, {name: v[:, k:k + 1] for name, v in feeds.items()})
        for a, b in zip(got, one):
            worst = max(worst, float(np.abs(a[:, k:k + 1] - b).max()))
    return worst


# ---------------------------------------------------------------- driver

def find_recur(arg):
    if arg:
        return arg
    p = os.path.join(ROOT, "target", "release", "recur")
    if not os.path.exists(p):
        log("building recur: cargo build --release --bin recur")
        subprocess.run(["cargo", "build", "--release", "--bin", "recur"], cwd=ROOT, check=True)
    return p


def bench_workload(wid, onnx_path, mode, steps, threads, args, recur, work):
    rec_path = os.path.join(work, os.path.basename(onnx_path).rsplit(".", 1)[0] + ".recur")
    subprocess.run([recur, "convert", onnx_path, rec_path], check=True, capture_output=True)
    isa = args.isa or recur_best_isa(recur, rec_path)
    notes = []
    err = check_outputs(recur, onnx_path, rec_path, mode, work)
    notes.append(f"{wid}: recur vs ORT outputs over 8 frames, max abs diff of the first output: "
                 + (f"{err:.2e}" if isinstance(err, float) else err))
    streams = args.streams if mode == "step" else 1
    ort_path = onnx_path
    if streams > 1:
        ort_path = batched_model(onnx_path, streams, work)
        berr = check_batched(onnx_path, ort_path, streams)
        notes.append(f"{wid}: ORT batch-{streams} graph vs {streams} single-stream calls (one frame, "
                     f"random states), max abs diff over all outputs: {berr:.2e}")
    elif args.streams > 1:
        notes.append(f"{wid}: run mode, --streams ignored (one sequence)")
    target = 0.004 if args.quick else 0.02
    batches = 3 if args.quick else 7
    repeats = 5 if args.quick else 15

    engines = {}  # name -> function returning µs per frame for one round
    if ort is not None:
        if mode == "step":
            frames = _frames_for(ort_path, _frame_count(streams))
            timed = {}
            # With several threads, also try worker threads that do not spin (better on a
            # loaded machine); the best of all call paths is reported. With N streams a
            # call advances all of them: per=N gives µs per stream-step.
            for spin in ([None] if threads == 1 else [None, False]):
                _, paths = ort_stream_paths(ort_path, threads, frames, spin)
                for k, f in paths.items():
                    timed[k + ("" if spin is None else ", no spin")] = Timed(f, per=streams)
            for t in timed.values():
                t.calibrate(target)

            def ort_round(timed=timed):
                res = {k: t.measure(batches) for k, t in timed.items()}
                best = min(res, key=res.get)
                return res[best], best
            engines["ort-stream"] = ort_round
        else:
            timed = {}
            for spin in ([None] if threads == 1 else [None, False]):
                timed["io_binding, whole sequence" + ("" if spin is None else ", no spin")] = \
                    Timed(ort_seq(onnx_path, threads, steps, spin), per=steps)
            for t in timed.values():
                t.calibrate(target)

            def ort_seq_round(timed=timed):
                res = {k: t.measure(batches) for k, t in timed.items()}
                best = min(res, key=res.get)
                return res[best], best
            engines["ort-seq"] = ort_seq_round
    else:
        notes.append("onnxruntime not importable: skipped")
    if HAVE_TORCH and wid in ("W1", "W2", "W3", "W4"):
        try:
            t = Timed(torch_callable(wid, args.seed, mode, threads, steps, streams),
                      per=steps if mode == "run" else streams)
            t.calibrate(target)
            engines["torch-" + ("seq" if mode == "run" else "stream")] = \
                lambda t=t: (t.measure(batches), "inference_mode")
        except Exception as e:  # pragma: no cover
            notes.append(f"torch: {type(e).__name__}: {e}")
    elif not HAVE_TORCH:
        notes.append("torch not importable: PyTorch skipped")
    else:
        notes.append("torch: only the canonical workloads are mapped to nn modules")
    extra = {}

    def recur_round():
        rows = recur_bench(recur, rec_path, mode, steps, threads, isa, repeats, streams)
        if rows[0].get("streams", 1) != streams:
            raise SystemExit(f"recur bench reported streams={rows[0].get('streams')}, asked {streams}")
        # With N streams, us_per_step and bound_us are for all N streams advancing one frame.
        extra["bound_us"] = rows[0]["bound_us"] / streams
        return (rows[0]["us_per_step"]["median"] / streams,
                f"recur bench --isa {isa}" + (f" --streams {streams}" if streams > 1 else ""))
    engines["recur"] = recur_round

    names = list(engines)
    per = {n: [] for n in names}
    how = {n: [] for n in names}
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for n in order:
            us, h = engines[n]()
            per[n].append(us)
            how[n].append(h)
        log(f"  {wid} threads={threads} round {r + 1}/{args.rounds}: "
            + ", ".join(f"{n} {per[n][-1]:.2f}" for n in names))
    med = {n: statistics.median(v) for n, v in per.items()}
    how = {n: max(set(v), key=v.count) for n, v in how.items()}  # the call path that won most rounds
    extra["streams"] = streams
    return med, how, extra, notes, isa


def check_outputs(recur, onnx_path, rec_path, mode, work, frames=8):
    """Largest |recur - ORT| of the first output over a few frames (step mode: frame by
    frame through `recur run`, the states fed back as in the streaming call; run mode: one
    sequence of `frames` frames), so that both engines are seen to compute the same thing."""
    sess = ort_session(onnx_path, 1)
    xin = sess.get_inputs()[0]
    y_name = sess.get_outputs()[0].name
    rng = np.random.default_rng(11)
    d = os.path.join(work, "check_" + os.path.basename(rec_path))
    os.makedirs(d, exist_ok=True)
    out = os.path.join(d, "out")
    worst = 0.0

    def recur_run(feeds):
        for k, v in feeds.items():
            np.save(os.path.join(d, f"input_{k}.npy"), v)
        p = subprocess.run([recur, "run", rec_path, "--inputs", d, "--outputs", out], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"recur run failed: {p.stderr.strip()}")
        return lambda name: np.load(os.path.join(out, f"output_{name}.npy"))

    try:
        if mode == "step":
            pairs = state_pairs(sess)
            shapes = {i.name: _shape(i.shape) for i in sess.get_inputs()}
            feeds = {i: np.zeros(shapes[i], np.float32) for i, _ in pairs}
            rfeeds = dict(feeds)
            for _ in range(frames):
                x = rng.uniform(-1, 1, shapes[xin.name]).astype(np.float32)
                feeds[xin.name] = rfeeds[xin.name] = x
                res = sess.run([y_name] + [o for _, o in pairs], feeds)
                got = recur_run(rfeeds)
                worst = max(worst, float(np.abs(got(y_name) - res[0]).max()))
                for (i, o), v in zip(pairs, res[1:]):
                    feeds[i] = v
                    rfeeds[i] = got(o)
        else:
            x = rng.uniform(-1, 1, _shape(xin.shape, frames)).astype(np.float32)
            expect = sess.run([y_name], {xin.name: x})[0]
            worst = float(np.abs(recur_run({xin.name: x})(y_name) - expect).max())
    except Exception as e:  # a check that cannot run is reported, not fatal
        return f"{type(e).__name__}: {e}"
    return worst


def _frame_count(streams):
    """Distinct input frames cycled through: 256 for one stream, fewer for a batch
    (W3 with 64 streams: 16 frames of [1,64,1024], 4 MB)."""
    return max(8, 256 // streams)


def _frames_for(onnx_path, count=256):
    import onnx
    m = onnx.load(onnx_path, load_external_data=False)
    dims = [d.dim_value or 1 for d in m.graph.input[0].type.tensor_type.shape.dim]
    return np.random.default_rng(7).uniform(-1, 1, size=[count] + dims).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description="recur vs ONNX Runtime (and PyTorch), interleaved")
    ap.add_argument("--threads", type=int, nargs="+", default=[1], help="thread counts, e.g. --threads 1 2")
    ap.add_argument("--quick", action="store_true", help="short runs: 3 rounds, short batches")
    ap.add_argument("--rounds", type=int, help="rounds per workload (default 7, --quick 3)")
    ap.add_argument("--workloads", default="W1,W2,W3,W4", help="comma-separated canonical workloads")
    ap.add_argument("--model", help="an ONNX model instead of the canonical workloads")
    ap.add_argument("--exporter", default="helper", choices=["helper", "torch", "dynamo"],
                    help="how tools/make_workloads.py writes the canonical workloads: onnx.helper "
                         "(default, no torch), or exported from PyTorch (torch: TorchScript; dynamo)")
    ap.add_argument("--seed", type=int, default=0, help="the workloads' weight seed (make_workloads.py)")
    ap.add_argument("--mode", choices=["step", "run"], default="step", help="with --model")
    ap.add_argument("--steps", type=int, default=1000, help="frames per sequence call (run mode)")
    ap.add_argument("--streams", type=int, default=1,
                    help="step workloads: N independent streams per call (ORT batch N, "
                         "recur bench --streams N); figures in µs per stream-step")
    ap.add_argument("--recur", help="the recur binary (default: target/release/recur, built if missing)")
    ap.add_argument("--isa", help="recur kernel set (default: the one recur chooses)")
    ap.add_argument("--keep", help="write the ONNX and .recur files to this folder and keep them")
    ap.add_argument("--json", action="store_true", help="also print one JSON object per row")
    args = ap.parse_args()
    if args.rounds is None:
        args.rounds = 3 if args.quick else 7
    if args.streams < 1:
        ap.error("--streams must be at least 1")

    recur = find_recur(args.recur)
    work = args.keep or tempfile.mkdtemp(prefix="recur-peers-")
    try:
        if args.model:
            jobs = [(os.path.basename(args.model), args.model, args.mode)]
        else:
            import make_workloads
            ids = [s.strip().upper() for s in args.workloads.split(",")]
            paths = make_workloads.make(work, ids, seed=args.seed, verbose=False, exporter=args.exporter)
            jobs = [(wid, paths[wid], make_workloads.WORKLOADS[wid][2]) for wid in ids]

        rows, all_notes = [], []
        for threads in args.threads:
            for wid, path, mode in jobs:
                log(f"{wid}: {mode}, {threads} thread(s)")
                med, how, extra, notes, isa = bench_workload(wid, path, mode, args.steps, threads, args, recur, work)
                all_notes += [n for n in notes if n not in all_notes]
                streams = extra["streams"]
                if mode != "step":
                    mname = f"run T={args.steps}"
                else:
                    mname = "step" if streams == 1 else f"step x{streams}"
                for n, us in med.items():
                    rows.append({"workload": wid, "mode": mname, "streams": streams,
                                 "threads": threads, "engine": n, "us_per_step": us,
                                 "us_per_call": us * streams,
                                 "ratio_vs_recur": us / med["recur"], "how": how[n],
                                 "recur_bound_us": extra.get("bound_us")})
        print_table(rows, args)
        mtime = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(recur)))
        print(f"# recur binary: {recur} (built {mtime})")
        for n in all_notes:
            print(f"note: {n}")
        if args.json:
            for r in rows:
                print(json.dumps(r))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def print_table(rows, args):
    import platform
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    print(f"# {cpu}, {os.cpu_count()} CPUs; onnxruntime {ort.__version__ if ort else '-'}; "
          f"torch {'yes' if HAVE_TORCH else 'not installed'}; {args.rounds} rounds, interleaved; medians")
    if not args.model:
        print(f"# workloads written by tools/make_workloads.py --exporter {args.exporter} (seed {args.seed})")
    print("# µs per step = per frame (run mode: per frame of a T-frame call); ratio = engine / recur (> 1: recur faster)")
    if any(r["streams"] > 1 for r in rows):
        print("# step xN: N streams advance one frame per call (ORT: batch N; recur: bench --streams N); "
              "µs/step = per stream-step = per call / N")
    hdr = f"| {'workload':8} | {'mode':10} | {'threads':7} | {'engine':11} | {'µs/step':>9} | {'ratio':>6} | how |"
    print(hdr)
    print("|" + "|".join("-" * (len(c)) for c in hdr.split("|")[1:-1]) + "|")
    for r in rows:
        print(f"| {r['workload']:8} | {r['mode']:10} | {r['threads']:7} | {r['engine']:11} | "
              f"{r['us_per_step']:9.2f} | {r['ratio_vs_recur']:6.2f} | {r['how']} |")
    bounds = {}
    for r in rows:
        if r["engine"] == "recur":  # with N streams the bound depends on the threads: one per row
            key = r["workload"] if r["streams"] == 1 else f"{r['workload']} x{r['streams']} t{r['threads']}"
            bounds.setdefault(key, r["recur_bound_us"])
    print("# recur's measured bound (µs/step" + ("; step xN rows: per stream" if any(r["streams"] > 1 for r in rows) else "")
          + "): " + ", ".join(f"{k} {v:.2f}" for k, v in bounds.items() if v))
    many = [r for r in rows if r["streams"] > 1]
    if many:
        print("# per call (all N streams one frame), µs: " + ", ".join(
            f"{r['workload']} x{r['streams']} t{r['threads']} {r['engine']} {r['us_per_call']:.1f}" for r in many))


if __name__ == "__main__":
    main()
