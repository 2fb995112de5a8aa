"""Reference implementation of the `stretch-triangle` preprocessing of models/CONTRACT.md (schema 1).

Used by training, evaluation and the parity fixture. numpy + Pillow only.

    img = load_rgb(path)                                  # uint8 HxWx3, no EXIF rotation
    x = preprocess(img, region=(x0, y0, x1, y1), margin=0.5)   # float32 [3, 224, 224] in 0..1
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

INPUT_SIZE = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def load_rgb(path) -> np.ndarray:
    """Decode to 8-bit RGB. No EXIF rotation (schema 1)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def widen(region, margin):
    """Contract step 2: widen by margin*(size) on each side, clip to 0..1."""
    x0, y0, x1, y1 = (float(v) for v in region)
    w, h = x1 - x0, y1 - y0
    x0, x1 = x0 - margin * w, x1 + margin * w
    y0, y1 = y0 - margin * h, y1 + margin * h
    clip = lambda v: min(max(v, 0.0), 1.0)
    return (clip(x0), clip(y0), clip(x1), clip(y1))


def triangle_weights(src_len: int, b0: float, b1: float, out: int) -> np.ndarray:
    """Weight matrix [out, src_len] (float64) of contract step 4 for one axis.

    b0, b1: box edges in continuous pixel coordinates (X0 = x0 * W, no rounding).
    """
    scale = (b1 - b0) / out
    support = max(scale, 1.0)
    i = np.arange(out, dtype=np.float64)
    center = b0 + (i + 0.5) * scale                        # [out]
    j = np.arange(src_len, dtype=np.float64) + 0.5          # [src]
    d = np.abs(j[None, :] - center[:, None])                # [out, src]
    w = np.where(d < support, 1.0 - d / support, 0.0)
    s = w.sum(axis=1)
    zero = s == 0
    if zero.any():
        nearest = np.clip(np.floor(center[zero]), 0, src_len - 1).astype(np.int64)
        w[zero] = 0.0
        w[np.nonzero(zero)[0], nearest] = 1.0
        s = w.sum(axis=1)
    return w / s[:, None]


def resample(img: np.ndarray, box_px, out_w: int = INPUT_SIZE, out_h: int = INPUT_SIZE) -> np.ndarray:
    """Separable triangle resampling of img (HxWx3 uint8/float) over box_px=(X0,Y0,X1,Y1).

    Returns float64 [out_h, out_w, 3] on the 0..255 scale.
    """
    H, W = img.shape[:2]
    X0, Y0, X1, Y1 = box_px
    wx = triangle_weights(W, X0, X1, out_w)  # [out_w, W]
    wy = triangle_weights(H, Y0, Y1, out_h)  # [out_h, H]
    # restrict to the source rows/columns that carry weight (pure speed-up, same result)
    cols = np.nonzero(wx.any(axis=0))[0]
    rows = np.nonzero(wy.any(axis=0))[0]
    c0, c1 = cols[0], cols[-1] + 1
    r0, r1 = rows[0], rows[-1] + 1
    src = img[r0:r1, c0:c1].astype(np.float64)
    h, w = src.shape[:2]
    tmp = (wy[:, r0:r1] @ src.reshape(h, w * 3)).reshape(out_h, w, 3)    # rows first
    out = tmp.transpose(0, 2, 1) @ wx[:, c0:c1].T                         # then columns: [out_h, 3, out_w]
    return out.transpose(0, 2, 1)


def preprocess(img: np.ndarray, region=(0.0, 0.0, 1.0, 1.0), margin: float = 0.0,
               out_w: int = INPUT_SIZE, out_h: int = INPUT_SIZE) -> np.ndarray:
    """Contract steps 2-5: float32 [3, out_h, out_w] in 0..1 (RGB)."""
    H, W = img.shape[:2]
    x0, y0, x1, y1 = widen(region, margin) if margin else tuple(float(v) for v in region)
    box = (x0 * W, y0 * H, x1 * W, y1 * H)
    out = resample(img, box, out_w, out_h) / 255.0
    return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)


def preprocess_box_px(img: np.ndarray, box_px, out_w: int = INPUT_SIZE, out_h: int = INPUT_SIZE) -> np.ndarray:
    """Like preprocess() but with an explicit pixel box (used by training augmentation)."""
    out = resample(img, box_px, out_w, out_h) / 255.0
    return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)
