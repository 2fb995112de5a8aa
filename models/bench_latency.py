#!/usr/bin/env python3
"""Latency of bin-fill.onnx per crop: onnxruntime, 1 intra-op thread, batch 1 (and batch 4 for reference).

    python models/bench_latency.py [--model models/bin-fill.onnx] [--runs 200]

Also times the reference numpy preprocessing of one 1024x768 photo (not part of the model latency).
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HERE, "bin-fill.onnx"))
    ap.add_argument("--runs", type=int, default=200)
    a = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for bs in (1, 4):
        x = rng.random((bs, 3, 224, 224), dtype=np.float32)
        for _ in range(10):
            s.run(None, {"image": x})
        ts = []
        for _ in range(a.runs if bs == 1 else a.runs // 4):
            t = time.perf_counter()
            s.run(None, {"image": x})
            ts.append((time.perf_counter() - t) * 1000)
        ts = np.array(ts) / bs
        print(f"onnxruntime {ort.__version__}, 1 thread, batch {bs}: per crop median {np.median(ts):.1f} ms, "
              f"p10 {np.percentile(ts, 10):.1f} ms, p90 {np.percentile(ts, 90):.1f} ms ({len(ts)} runs)")
    from binwatch_preprocess import preprocess
    img = rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    ts = []
    for _ in range(20):
        t = time.perf_counter()
        preprocess(img, (0.3, 0.3, 0.6, 0.7), 0.5)
        ts.append((time.perf_counter() - t) * 1000)
    print(f"reference numpy preprocessing (1024x768 photo, region, margin 0.5): median {np.median(ts):.1f} ms")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
