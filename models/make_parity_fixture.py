#!/usr/bin/env python3
"""Write tests/fixtures/parity.json for the Rust runtime's parity test.

    python models/make_parity_fixture.py ../shared/datasets [--model models/bin-fill.onnx] [--out tests/fixtures/parity.json]

Picks 12 real photos (whole-image cctv-topdown and street-cn crops, montevideo container regions with margin 0.5),
runs the reference preprocessing (binwatch_preprocess.py) and onnxruntime on the shipped model and stores the
probabilities. Regenerate whenever bin-fill.onnx changes (model_sha256 must match the committed file).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

from binwatch_preprocess import load_rgb, preprocess  # noqa: E402

MARGIN = 0.5


def pick(data_dir):
    rows = list(csv.DictReader(open(os.path.join(data_dir, "manifest.csv"))))
    items = []
    # deterministic choice: every set/label, and different image sizes (small crops, 640 px frames, large photos)
    for set_, label, n in [("cctv-topdown", "empty", 1), ("cctv-topdown", "partial", 1), ("cctv-topdown", "full", 2),
                           ("street-cn", "not_full", 2), ("street-cn", "full", 2)]:
        cand = sorted((r for r in rows if r["set"] == set_ and r["label"] == label),
                      key=lambda r: hashlib.sha256(r["path"].encode()).hexdigest())
        # one small and one large image where possible
        cand_sorted = sorted(cand[:40], key=lambda r: int(r["width"]) * int(r["height"]))
        chosen = [cand_sorted[0], cand_sorted[-1]][:n] if n > 1 else [cand_sorted[len(cand_sorted) // 2]]
        for r in chosen:
            items.append({"path": r["path"], "region": [0.0, 0.0, 1.0, 1.0], "margin": 0.0})
    regions = json.load(open(os.path.join(data_dir, "montevideo-regions.json")))
    multi = [e for e in regions if len(e["regions"]) > 1][:1]
    clean = [e for e in regions if e["label"] == "clean" and len(e["regions"]) == 1][:1]
    dirty = [e for e in regions if e["label"] == "dirty" and len(e["regions"]) == 1][:1]
    for e in multi + clean + dirty:
        for reg in e["regions"]:
            items.append({"path": e["path"], "region": [float(v) for v in reg], "margin": MARGIN})
    return items


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--model", default=os.path.join(HERE, "bin-fill.onnx"))
    ap.add_argument("--out", default=os.path.join(HERE, "..", "tests", "fixtures", "parity.json"))
    a = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    items = pick(a.data)
    for it in items:
        img = load_rgb(os.path.join(a.data, it["path"]))
        x = preprocess(img, it["region"], it["margin"])[None]
        p = sess.run(["probabilities"], {"image": x})[0][0]
        it["probabilities"] = [round(float(v), 6) for v in p]
    model_sha = hashlib.sha256(open(a.model, "rb").read()).hexdigest()
    out = {"model_sha256": model_sha, "model": "models/bin-fill.onnx", "tolerance": 1e-3,
           "preprocessing": "stretch-triangle, see models/CONTRACT.md and models/binwatch_preprocess.py",
           "items": items}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {len(items)} items to {a.out} (model sha256 {model_sha})")


if __name__ == "__main__":
    main()
