"""Build the shipped bin-fill.onnx (backbone + head + softmax(logits/T)) with CONTRACT.md metadata."""
from __future__ import annotations

import hashlib
import os

import numpy as np
import onnx
import torch

from binwatch_model import CLASSES, Deployed
from binwatch_preprocess import MEAN, STD, INPUT_SIZE

MAX_BYTES = 20 * 1024 * 1024


def export_deployed(net, tail_state, start, head, temperature, path, model_version, manifest_sha256, margin):
    model = Deployed(net, tail_state, start, head, temperature).eval()
    x = torch.rand(2, 3, INPUT_SIZE, INPUT_SIZE)
    tmp = path + ".tmp"
    torch.onnx.export(model, (x,), tmp, input_names=["image"], output_names=["probabilities"],
                      dynamic_axes={"image": {0: "N"}, "probabilities": {0: "N"}}, opset_version=17,
                      dynamo=False)
    m = onnx.load(tmp)
    os.remove(tmp)
    meta = {
        "binwatch.schema": "1",
        "classes": ",".join(CLASSES),
        "alert_classes": "full",
        "input_name": "image",
        "output_name": "probabilities",
        "input_layout": "NCHW",
        "input_width": str(INPUT_SIZE),
        "input_height": str(INPUT_SIZE),
        "color_order": "RGB",
        "pixel_range": "0,1",
        "normalization": "in-graph",
        "mean": ",".join(str(v) for v in MEAN),
        "std": ",".join(str(v) for v in STD),
        "resize": "stretch-triangle",
        "temperature": f"{temperature:.4f}",
        "model_version": model_version,
        "training_manifest_sha256": manifest_sha256,
        "default_margin": str(margin),
    }
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    m.producer_name = "binwatch-models"
    m.doc_string = "binwatch bin fill-level classifier (EfficientNet-Lite0), see models/MODEL_CARD.md"
    onnx.checker.check_model(m)
    onnx.save_model(m, path, save_as_external_data=False)
    check_model(path, model)
    return meta


def check_model(path, torch_model=None):
    import onnxruntime as ort
    size = os.path.getsize(path)
    assert size <= MAX_BYTES, f"model is {size} bytes > 20 MB"
    d = os.path.dirname(os.path.abspath(path))
    assert not [f for f in os.listdir(d) if f.endswith(".data")], "external data file present"
    m = onnx.load(path)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    assert [i.name for i in s.get_inputs()] == ["image"] and [o.name for o in s.get_outputs()] == ["probabilities"]
    rng = np.random.default_rng(0)
    x4 = rng.random((4, 3, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)
    p4 = s.run(None, {"image": x4})[0]
    p1 = s.run(None, {"image": x4[:1]})[0]
    assert p4.shape == (4, 3) and p1.shape == (1, 3)
    assert np.allclose(p4.sum(1), 1, atol=1e-5) and np.allclose(p1, p4[:1], atol=1e-5)
    if torch_model is not None:
        with torch.no_grad():
            pt = torch_model(torch.from_numpy(x4)).numpy()
        assert np.abs(pt - p4).max() < 1e-4, np.abs(pt - p4).max()
    return dict(bytes=size, sha256=hashlib.sha256(open(path, "rb").read()).hexdigest(),
                opset=[(o.domain, o.version) for o in m.opset_import],
                metadata={p.key: p.value for p in m.metadata_props})
