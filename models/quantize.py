#!/usr/bin/env python3
"""Write the int8 variant of the shipped model: static QDQ quantisation with onnxruntime's tools.

    models/.venv/bin/python models/quantize.py ../shared/datasets \
        [--model models/bin-fill.onnx] [--out models/bin-fill-int8.onnx] [--samples 600] [--seed 1234]

- Calibration: a seeded choice of pool samples (every montevideo container region of
  montevideo-regions.json with margin 0.5, then whole-image cctv-topdown and street-cn crops and whole
  montevideo scenes in proportion to the sets), preprocessed exactly as training and the runtime do
  (binwatch_preprocess.py, `stretch-triangle`).
- Quantisation: onnxruntime.quantization.quant_pre_process (shape inference, graph optimisation), then
  quantize_static with QDQ format, unsigned 8-bit activations, signed 8-bit weights per output channel,
  weights reduced to 7 bits (`reduce_range`: x86 CPUs without VNNI saturate otherwise), MinMax ranges.
  The first convolution (on the RGB input), the last one and the output head (temperature, softmax) stay
  in float: quantising the two convolutions cost up to 0.014 balanced accuracy on the pool's sets
  (models/QUANTIZE.md has the variants tried).
- Metadata: every metadata_props entry of the float model is copied, plus `quantization`
  (`int8-qdq-per-channel`), `quantized_from_sha256` (SHA-256 of the float model file) and
  `quantization_calibration` (what the ranges were computed on).

Rerun it whenever models/bin-fill.onnx changes (see models/QUANTIZE.md); then compare both models with
`binwatch eval` on each pool set (benches/quantize_compare.sh) before shipping the int8 file: it ships only
if its balanced accuracy stays within 0.01 of the float model's on every set.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnxruntime.quantization import (  # noqa: E402
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)

from binwatch_preprocess import load_rgb, preprocess  # noqa: E402

MARGIN = 0.5
QUANTIZATION = "int8-qdq-per-channel"
MAX_BYTES = 20 * 1024 * 1024


def calibration_items(pool: str, n: int, seed: int):
    """(path, region, margin) triples: every montevideo container region, then whole-image samples of each
    set in proportion, drawn with `seed`."""
    rng = random.Random(seed)
    items = []
    with open(os.path.join(pool, "montevideo-regions.json")) as f:
        for e in json.load(f):
            for r in e["regions"]:
                items.append((e["path"], tuple(float(v) for v in r), MARGIN))
    with open(os.path.join(pool, "manifest.csv")) as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["path"])
    by_set = {}
    for r in rows:
        by_set.setdefault(r["set"], []).append(r["path"])
    rest = max(0, n - len(items))
    total = sum(len(v) for v in by_set.values())
    for s in sorted(by_set):
        k = round(rest * len(by_set[s]) / total)
        for p in rng.sample(by_set[s], min(k, len(by_set[s]))):
            items.append((p, (0.0, 0.0, 1.0, 1.0), 0.0))
    rng.shuffle(items)
    return items


class Reader(CalibrationDataReader):
    """Feeds the preprocessed calibration samples, a batch at a time."""

    def __init__(self, pool, items, input_name, batch=8):
        self.pool, self.items, self.input_name, self.batch = pool, items, input_name, batch
        self.pos = 0

    def get_next(self):
        if self.pos >= len(self.items):
            return None
        chunk = self.items[self.pos: self.pos + self.batch]
        self.pos += len(chunk)
        x = np.stack([preprocess(load_rgb(os.path.join(self.pool, p)), r, m) for p, r, m in chunk])
        return {self.input_name: x}

    def rewind(self):
        self.pos = 0


def output_head(model: onnx.ModelProto, output_name: str):
    """Names of the nodes between the last Gemm and the output (temperature and softmax)."""
    producers = {o: n for n in model.graph.node for o in n.output}
    names, todo = [], [output_name]
    while todo:
        n = producers.get(todo.pop())
        if n is None or n.op_type in ("Gemm", "MatMul"):
            continue
        names.append(n.name)
        todo.extend(n.input)
    return names


def first_conv(model: onnx.ModelProto, input_name: str):
    """The name of the first Conv fed (through non-Conv nodes) by the input."""
    consumers = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    todo, seen = [input_name], set()
    while todo:
        t = todo.pop(0)
        for n in consumers.get(t, []):
            if n.name in seen:
                continue
            seen.add(n.name)
            if n.op_type == "Conv":
                return [n.name]
            todo.extend(n.output)
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pool", help="the photo pool (manifest.csv, montevideo-regions.json)")
    ap.add_argument("--model", default=os.path.join(HERE, "bin-fill.onnx"))
    ap.add_argument("--out", default=os.path.join(HERE, "bin-fill-int8.onnx"))
    ap.add_argument("--samples", type=int, default=600)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--calibrate", choices=["minmax", "entropy", "percentile"], default="minmax",
                    help="how activation ranges are taken from the calibration samples")
    ap.add_argument("--full-range", action="store_true",
                    help="8-bit weights instead of 7 (may saturate on x86 CPUs without VNNI)")
    ap.add_argument("--quantize-stem", action="store_true",
                    help="quantise the first convolution (RGB input) too (default: float)")
    ap.add_argument("--quantize-last-conv", action="store_true",
                    help="quantise the last convolution (before pooling and the head) too (default: float)")
    a = ap.parse_args()

    raw = open(a.model, "rb").read()
    sha = hashlib.sha256(raw).hexdigest()
    fp32 = onnx.load_from_string(raw)
    meta = {p.key: p.value for p in fp32.metadata_props}
    for k in ("input_name", "output_name"):
        if k not in meta:
            sys.exit(f"{a.model}: metadata key `{k}` is missing (see models/CONTRACT.md)")
    if "quantization" in meta:
        sys.exit(f"{a.model}: already quantised ({meta['quantization']}); give the float model")

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[a.calibrate]
    extra = {"CalibPercentile": 99.999} if a.calibrate == "percentile" else {}
    items = calibration_items(a.pool, a.samples, a.seed)
    print(f"calibrating on {len(items)} pool samples (seed {a.seed})")
    with tempfile.TemporaryDirectory() as tmp:
        pre = os.path.join(tmp, "pre.onnx")
        quant_pre_process(a.model, pre)
        pre_model = onnx.load(pre)
        head = output_head(pre_model, meta["output_name"])
        if not a.quantize_stem:
            head += first_conv(pre_model, meta["input_name"])
        if not a.quantize_last_conv:
            head += [n.name for n in pre_model.graph.node if n.op_type == "Conv"][-1:]
        q = os.path.join(tmp, "q.onnx")
        quantize_static(
            pre,
            q,
            # the histogram calibrators need equal batches
            Reader(a.pool, items, meta["input_name"], batch=8 if a.calibrate == "minmax" else 1),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=not a.full_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=method,
            nodes_to_exclude=head,
            extra_options=extra,
        )
        m = onnx.load(q)
    del m.metadata_props[:]
    meta.update({
        "quantization": QUANTIZATION,
        "quantized_from_sha256": sha,
        "quantization_calibration": f"{a.calibrate} over {len(items)} pool samples (seed {a.seed}), "
                                    f"activations u8, weights s8 per channel"
                                    f"{'' if a.full_range else ', reduce_range'}"
                                    f"{'' if a.quantize_stem else ', float first conv'}"
                                    f"{'' if a.quantize_last_conv else ', float last conv'}",
    })
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.doc_string = (fp32.doc_string + " | " if fp32.doc_string else "") + \
        f"int8 QDQ (per-channel) quantisation of the model with sha256 {sha}, made by models/quantize.py"
    onnx.checker.check_model(m)
    tmp_out = a.out + ".tmp"
    onnx.save_model(m, tmp_out, save_as_external_data=False)
    size = os.path.getsize(tmp_out)
    if size > MAX_BYTES:
        os.remove(tmp_out)
        sys.exit(f"{a.out}: {size} bytes is above the contract's 20 MB")

    # both models on a few calibration samples: same shapes, probabilities close
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s32 = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    s8 = ort.InferenceSession(tmp_out, so, providers=["CPUExecutionProvider"])
    x = Reader(a.pool, items[:16], meta["input_name"], batch=16).get_next()
    p32 = s32.run([meta["output_name"]], x)[0]
    p8 = s8.run([meta["output_name"]], x)[0]
    assert p8.shape == p32.shape and np.allclose(p8.sum(1), 1, atol=1e-4), p8
    os.replace(tmp_out, a.out)
    agree = float((p8.argmax(1) == p32.argmax(1)).mean())
    print(f"wrote {a.out} ({size / 1e6:.1f} MB, from sha256 {sha[:12]}...); on 16 calibration samples: "
          f"largest probability difference {np.abs(p8 - p32).max():.3f}, same top class {agree:.0%}")


if __name__ == "__main__":
    main()
