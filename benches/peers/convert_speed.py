#!/usr/bin/env python3
"""How long `recur convert` takes on a ~100 MB ONNX LSTM (issue 5, point 4: under 2 s).

    python3 benches/peers/convert_speed.py [--input 2560] [--hidden 1536] [--runs 3] [--recur PATH]

Builds a one-layer LSTM (default in=2560 H=1536: 25.2 M float32 parameters, ~100.7 MB of
initializers) with onnx.helper in a temporary folder, then times `recur convert` on it,
wall clock of the whole process (start, read, import, pack, checksum, write), best of
--runs with stderr not a terminal (the progress bar hides itself), and once more with
stderr on a pseudo-terminal to see that the progress bar appears. The ONNX file was just
written, so it is in the page cache: this is the warm-cache time.
"""

import argparse
import os
import pty
import select
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def build(path, i, h):
    rng = np.random.default_rng(5)
    k = 1.0 / np.sqrt(h)
    w = rng.uniform(-k, k, (1, 4 * h, i)).astype(np.float32)
    r = rng.uniform(-k, k, (1, 4 * h, h)).astype(np.float32)
    b = rng.uniform(-k, k, (1, 8 * h)).astype(np.float32)
    node = helper.make_node("LSTM", ["x", "W", "R", "B"], ["Y", "Yh", "Yc"], name="/rnn/LSTM", hidden_size=h)
    g = helper.make_graph(
        [node], "big_lstm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["T", 1, i])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["T", 1, 1, h]),
         helper.make_tensor_value_info("Yh", TensorProto.FLOAT, [1, 1, h]),
         helper.make_tensor_value_info("Yc", TensorProto.FLOAT, [1, 1, h])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R"), numpy_helper.from_array(b, "B")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    m.ir_version = 8
    onnx.save(m, path)
    return w.nbytes + r.nbytes + b.nbytes


def run_on_pty(cmd):
    """Run cmd with stderr on a pseudo-terminal; return (seconds, bytes written to stderr)."""
    master, slave = pty.openpty()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], 0.05)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if chunk:
                out += chunk
                continue
            break
        if p.poll() is not None:
            break
    p.wait()
    dt = time.perf_counter() - t0
    os.close(master)
    return dt, out, p.returncode


def main():
    ap = argparse.ArgumentParser(description="time recur convert on a ~100 MB ONNX LSTM")
    ap.add_argument("--input", type=int, default=2560)
    ap.add_argument("--hidden", type=int, default=1536)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--recur", default=os.path.join(ROOT, "target", "release", "recur"))
    a = ap.parse_args()
    if not os.path.exists(a.recur):
        subprocess.run(["cargo", "build", "--release", "--bin", "recur"], cwd=ROOT, check=True)

    d = tempfile.mkdtemp(prefix="recur-convert-")
    try:
        src, dst = os.path.join(d, "big.onnx"), os.path.join(d, "big.recur")
        nbytes = build(src, a.input, a.hidden)
        print(f"model: LSTM in={a.input} H={a.hidden}: {nbytes / 1e6:.1f} MB of float32 initializers, "
              f"ONNX file {os.path.getsize(src) / 1e6:.1f} MB")
        cmd = [a.recur, "convert", src, dst]
        times = []
        for k in range(a.runs):
            if os.path.exists(dst):
                os.remove(dst)
            t0 = time.perf_counter()
            p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            times.append(time.perf_counter() - t0)
            if p.returncode != 0:
                sys.exit(f"recur convert failed: {p.stderr.decode().strip()}")
            print(f"  run {k + 1}: {times[-1]:.3f} s (stderr not a terminal: {len(p.stderr)} bytes on stderr)")
        print(f"recur convert, best of {a.runs}: {min(times):.3f} s (median {sorted(times)[len(times) // 2]:.3f} s); "
              f"wrote {os.path.getsize(dst) / 1e6:.1f} MB")
        os.remove(dst)
        dt, err, rc = run_on_pty(cmd)
        bar = rc == 0 and (b"\r" in err or b"\x1b[" in err) and len(err) > 0
        print(f"on a pseudo-terminal: {dt:.3f} s; progress bar {'appeared' if bar else 'did NOT appear'} "
              f"({len(err)} bytes on stderr)")
        print("(a loaded, shared machine: the figures are indicative)")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
