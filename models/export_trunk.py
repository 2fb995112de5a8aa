"""Export the frozen EfficientNet-Lite0 trunk (used only for feature extraction during training)."""
import sys

import torch

from binwatch_model import Trunk, load_backbone

TAPS = (11, 15)  # activations entering blocks 11 and 15 are cached for fine-tuning


def export(path):
    net = load_backbone()
    trunk = Trunk(net, TAPS).eval()
    x = torch.rand(2, 3, 224, 224)
    names = [f"act{t}" for t in TAPS] + ["pooled"]
    torch.onnx.export(trunk, (x,), path, input_names=["image"], output_names=names,
                      dynamic_axes={"image": {0: "n"}, **{k: {0: "n"} for k in names}},
                      opset_version=17, dynamo=False)
    return path


if __name__ == "__main__":
    export(sys.argv[1])
