#!/usr/bin/env python3
"""Re-verify a folder of ONNX cases (fixtures/onnx by default, or shared/conformance).

For every case in <dir>/index.json and every input set (main and extra_sets):
  - onnx.checker.check_model(full_check=True);
  - onnxruntime's outputs vs the stored outputs, when onnxruntime loads the model;
  - the float64 evaluation of tools/fixturelib.ref_eval vs the stored outputs (skipped, and
    said so, for graphs with ops it does not implement).
Comparison: |actual - expected| <= abs + rel * |expected| with the case's tolerance.
Exit status 1 if anything fails.

Usage: python3 tools/check_fixtures.py [DIR]
"""

import json
import os
import sys

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixturelib as fl  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_set(folder, case):
    ins = {k: np.load(os.path.join(folder, f"input_{k}.npy")) for k in case["inputs"]}
    outs = {k: np.load(os.path.join(folder, f"output_{k}.npy")) for k in case["outputs"]}
    return ins, outs


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "fixtures", "onnx")
    index = json.load(open(os.path.join(root, "index.json")))
    failed = passed = 0
    for entry in index["cases"]:
        name = entry["name"]
        folder = os.path.join(root, name)
        case = json.load(open(os.path.join(folder, "case.json")))
        tol = case["tolerance"]
        problems, notes = [], []
        model = onnx.load(os.path.join(folder, "model.onnx"))
        try:
            onnx.checker.check_model(os.path.join(folder, "model.onnx"), full_check=True)
        except Exception as e:  # noqa: BLE001
            problems.append(f"checker: {e}")
        sets = [("", folder)] + [(s["dir"], os.path.join(folder, s["dir"])) for s in case.get("extra_sets", [])]
        for label, sf in sets:
            ins, outs = load_set(sf, case)
            if entry.get("onnxruntime_loads_model", True):
                try:
                    got = fl.run_ort(onnx.load(os.path.join(folder, "model.onnx")), ins)
                    for k, v in outs.items():
                        if not fl.within(got[k], v, tol):
                            problems.append(f"{label or 'main'}: onnxruntime {k} off by {fl.max_abs_diff(got[k], v):.3g}")
                except Exception as e:  # noqa: BLE001
                    problems.append(f"{label or 'main'}: onnxruntime failed: {str(e)[:200]}")
            try:
                ref, _ = fl.ref_eval(model, ins)
                for k, v in outs.items():
                    if not fl.within(ref[k], v, tol):
                        problems.append(f"{label or 'main'}: float64 reference {k} off by {fl.max_abs_diff(ref[k], v):.3g}")
            except NotImplementedError as e:
                notes.append(f"float64 reference skipped (op {e})")
            except KeyError as e:
                notes.append(f"float64 reference skipped (missing {e})")
        if problems:
            failed += 1
            print(f"FAIL {name}: " + "; ".join(problems))
        else:
            passed += 1
            print(f"ok   {name}" + (f"  ({'; '.join(sorted(set(notes)))})" if notes else ""))
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
