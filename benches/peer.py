"""The Python peer of benches/compare.sh: the pipeline a user would write in an afternoon instead of
installing binwatch. Pillow decodes each frame and crops + resizes each bin to the model's input (BILINEAR,
stretched), numpy makes the NCHW float batch (/255), onnxruntime runs all bins of a frame in one call on
the same model file, one intra-op and one inter-op thread.

    python benches/peer.py WORKLOAD.json --model models/bin-fill.onnx [--json OUT]

Frames are read into memory first; one untimed warm-up frame; then every frame is timed. Reports
frames/s, latency p50/p95 per frame, CPU seconds per frame and peak RSS (getrusage), and every bin's
decision per frame (alert = the most probable class is an alert class).
"""
import argparse
import io
import json
import os
import resource
import time

import numpy as np
import onnxruntime as ort
from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload")
    ap.add_argument("--model", default="models/bin-fill.onnx")
    ap.add_argument("--json")
    args = ap.parse_args()

    with open(args.workload) as f:
        wl = json.load(f)
    root = os.path.dirname(os.path.abspath(args.workload))
    frames = []
    for fr in wl["frames"]:
        with open(os.path.join(root, fr["file"]), "rb") as f:
            frames.append((fr, f.read()))

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    classes = meta["classes"].split(",")
    alert = [classes.index(c) for c in meta["alert_classes"].split(",")]
    size = (int(meta["input_width"]), int(meta["input_height"]))
    input_name = sess.get_inputs()[0].name

    def run(fr, data):
        img = Image.open(io.BytesIO(data)).convert("RGB")
        w, h = img.size
        crops = []
        for b in fr["bins"]:
            x0, y0, x1, y1 = b["region"]
            box = (round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h))
            crops.append(np.asarray(img.crop(box).resize(size, Image.BILINEAR), dtype=np.float32))
        batch = (np.stack(crops) / 255.0).transpose(0, 3, 1, 2).astype(np.float32)
        return sess.run(None, {input_name: batch})[0]

    run(*frames[0])  # warm-up

    latencies, decisions = [], []
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter()
    for fr, data in frames:
        t = time.perf_counter()
        probs = run(fr, data)
        latencies.append((time.perf_counter() - t) * 1e3)
        decisions.append({
            "file": fr["file"],
            "bins": [{"id": b["id"], "label": b["label"], "alert": int(np.argmax(p)) in alert,
                      "p_alert": float(sum(p[i] for i in alert))} for b, p in zip(fr["bins"], probs)],
        })
    wall = time.perf_counter() - wall
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    n = len(frames)
    lat = sorted(latencies)
    pct = lambda p: lat[min(len(lat) - 1, round(p / 100 * (len(lat) - 1)))]
    out = {
        "side": "peer",
        "workload": wl["workload"],
        "model": args.model,
        "quantization": meta.get("quantization"),
        "threads": 1,
        "frames": n,
        "frames_mb": sum(len(d) for _, d in frames) / 1048576,
        "fps": n / wall,
        "latency_ms": {"p50": pct(50), "p95": pct(95), "mean": sum(lat) / n},
        "cpu_s_per_frame": (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / n,
        "peak_rss_mb": r1.ru_maxrss / 1024,
        "decisions": decisions,
    }
    print(f"peer {wl['workload']} {args.model}: {out['fps']:.2f} frames/s, p50 {out['latency_ms']['p50']:.1f} ms, "
          f"p95 {out['latency_ms']['p95']:.1f} ms, CPU {out['cpu_s_per_frame'] * 1e3:.1f} ms/frame, "
          f"peak RSS {out['peak_rss_mb']:.0f} MB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
