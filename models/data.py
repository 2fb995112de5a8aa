"""Sample list, folds and augmented-view feature extraction for binwatch training."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from multiprocessing import get_context

import numpy as np
from PIL import Image, ImageFilter

from binwatch_preprocess import INPUT_SIZE, load_rgb, preprocess, preprocess_box_px, widen

MARGIN = 0.5
N_FOLDS = 4
# cctv-topdown: grouped k-fold on session (balanced by size); every session is held out exactly once.
CCTV_SESSION_FOLD = {
    "Scuola-Dante-2022_10_12-vel--8X": 0,
    "vlcsnap-2022-10-24": 1,
    "numeric_misc": 2,
    "ScuolaDante_IP360-2022_10_16-X10": 3,
    "Scuola-Dante-2022_10_29-10X": 3,
    "ScuolaDante_IP360-2022_10_18-10X": 3,
    "2022_10_29__14_40_01": 3,
}
# target codes: 0 empty, 1 partial, 2 full, 3 = empty-or-partial (partial label)
TARGET = {
    ("cctv-topdown", "empty"): 0, ("cctv-topdown", "partial"): 1, ("cctv-topdown", "full"): 2,
    ("street-cn", "not_full"): 3, ("street-cn", "full"): 2,
    ("montevideo", "clean"): 3, ("montevideo", "dirty"): 2,
}
MANIFEST_COLS = ["path", "set", "label", "region", "margin", "md5", "dup_group", "session", "fold", "kind"]


def _h(s: str) -> int:
    return int(hashlib.sha256(s.encode()).hexdigest()[:12], 16)


SITE_LABELS = {"empty": 0, "partial": 1, "full": 2, "not_full": 3}
IMG_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def site_samples(site_dir: str):
    """A site's own labelled crops: SITE_DIR/<empty|partial|full|not_full>/[<camera-or-day>/]*.jpg.
    The optional sub-folder is used as the session (validation holds whole sessions out)."""
    out = []
    for label, tgt in SITE_LABELS.items():
        root = os.path.join(site_dir, label)
        if not os.path.isdir(root):
            continue
        for dp, _, fs in sorted(os.walk(root)):
            for fn in sorted(fs):
                if not fn.lower().endswith(IMG_EXT):
                    continue
                p = os.path.join(dp, fn)
                rel = os.path.relpath(p, site_dir)
                parts = os.path.relpath(p, root).split(os.sep)
                session = parts[0] if len(parts) > 1 else "site"
                md5 = hashlib.md5(open(p, "rb").read()).hexdigest()
                grp = f"site:{session}" if session != "site" else f"site:{md5}"
                out.append(dict(path="site/" + rel.replace(os.sep, "/"), abs=os.path.abspath(p), set="site", label=label, md5=md5, dup_group=grp,
                                session=session, target=tgt, fold=_h(grp) % N_FOLDS, region=[0.0, 0.0, 1.0, 1.0],
                                margin=0.0, kind="crop"))
    return out


def build_samples(data_dir: str, use_mv_scenes: bool = True, site_dir: str | None = None):
    """One dict per training sample. kind: 'crop' (whole image of a tight crop), 'region' (montevideo box,
    margin 0.5), 'scene' (montevideo scene without box, whole image, weak sample)."""
    rows = list(csv.DictReader(open(os.path.join(data_dir, "manifest.csv"))))
    regions = {e["path"]: e["regions"] for e in json.load(open(os.path.join(data_dir, "montevideo-regions.json")))}
    # folds for grouped sets: groups ordered by a fixed hash, dealt round-robin per (set, label, boxed?)
    group_fold = {}
    buckets = {}
    for r in rows:
        if r["set"] == "cctv-topdown":
            continue
        key = (r["set"], r["label"], r["path"] in regions)
        buckets.setdefault(key, set()).add(r["dup_group"])
    for key in sorted(buckets):
        for i, g in enumerate(sorted(buckets[key], key=lambda g: (_h(g), g))):
            group_fold.setdefault(g, i % N_FOLDS)
    samples = []
    for r in rows:
        s = dict(path=r["path"], set=r["set"], label=r["label"], md5=r["md5"], dup_group=r["dup_group"],
                 session=r["session"], target=TARGET[(r["set"], r["label"])])
        s["fold"] = CCTV_SESSION_FOLD[r["session"]] if r["set"] == "cctv-topdown" else group_fold[r["dup_group"]]
        if r["set"] == "montevideo":
            if r["path"] in regions:
                for reg in regions[r["path"]]:
                    samples.append(dict(s, region=[float(v) for v in reg], margin=MARGIN, kind="region"))
            elif use_mv_scenes:
                samples.append(dict(s, region=[0.0, 0.0, 1.0, 1.0], margin=0.0, kind="scene"))
        else:
            samples.append(dict(s, region=[0.0, 0.0, 1.0, 1.0], margin=0.0, kind="crop"))
    if site_dir:
        samples += site_samples(site_dir)
    return samples


def write_manifest(samples, path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(MANIFEST_COLS)
        for s in samples:
            w.writerow([s["path"], s["set"], s["label"], " ".join(f"{v:.5f}" for v in s["region"]),
                        s["margin"], s["md5"], s["dup_group"], s["session"], s["fold"], s["kind"]])
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


# ---------------------------------------------------------------- augmentation
def _aug_box(s, W, H, rng):
    """Random box in pixel coordinates around the sample's region."""
    if s["kind"] == "region":
        m = rng.uniform(0.3, 0.8)
        x0, y0, x1, y1 = widen(s["region"], m)
        w, h = x1 - x0, y1 - y0
        dx, dy = rng.uniform(-0.08, 0.08) * w, rng.uniform(-0.08, 0.08) * h
        x0, x1 = max(0.0, x0 + dx), min(1.0, x1 + dx)
        y0, y1 = max(0.0, y0 + dy), min(1.0, y1 + dy)
    else:
        lo = 0.8 if s["kind"] == "crop" else 0.65
        fw, fh = rng.uniform(lo, 1.0), rng.uniform(lo, 1.0)
        x0, y0 = rng.uniform(0, 1 - fw), rng.uniform(0, 1 - fh)
        x1, y1 = x0 + fw, y0 + fh
    return (x0 * W, y0 * H, x1 * W, y1 * H)


def augment_view(img_small, scale, s, rng):
    """img_small: image pre-shrunk by `scale` (<=1) for speed. Returns float32 [3,224,224] 0..1."""
    H, W = img_small.shape[:2]
    bx = _aug_box(s, W, H, rng)
    x = preprocess_box_px(img_small, bx).transpose(1, 2, 0) * 255.0  # HWC 0..255
    # photometric
    if rng.random() < 0.15:
        g = x @ np.array([0.299, 0.587, 0.114])
        x = np.repeat(g[..., None], 3, axis=2)
    mean = x.mean()
    x = (x - mean) * rng.uniform(0.65, 1.35) + mean            # contrast
    x = x * rng.uniform(0.65, 1.35)                             # brightness
    gray = x.mean(axis=2, keepdims=True)
    x = (x - gray) * rng.uniform(0.6, 1.4) + gray               # saturation
    if rng.random() < 0.1:                                      # dark + noisy (night-like)
        x = x * rng.uniform(0.3, 0.6) + rng.normal(0, 4.0, x.shape)
    x = np.clip(x, 0, 255).astype(np.uint8)
    im = Image.fromarray(x)
    if rng.random() < 0.5:
        ang = rng.uniform(-8, 8)
        fill = tuple(int(v) for v in x.reshape(-1, 3).mean(0))
        im = im.rotate(ang, resample=Image.BILINEAR, fillcolor=fill)
    if rng.random() < 0.3:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.6)))
    if rng.random() < 0.5:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    return (np.asarray(im, dtype=np.float32) / 255.0).transpose(2, 0, 1).copy()


def shrink(img, max_side=448):
    H, W = img.shape[:2]
    sc = max_side / max(H, W)
    if sc >= 1:
        return img, 1.0
    return np.asarray(Image.fromarray(img).resize((max(1, round(W * sc)), max(1, round(H * sc))), Image.BILINEAR)), sc


# ---------------------------------------------------------------- extraction
_W = {}


def _init_worker(onnx_path, out_specs, n_views):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    _W["sess"] = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    _W["outs"] = {k: np.lib.format.open_memmap(p, mode="r+") for k, (p, _) in out_specs.items()}
    _W["n_views"] = n_views


def _work(job):
    idx, s, data_dir, seed = job
    img = load_rgb(s.get("abs") or os.path.join(data_dir, s["path"]))
    views = [preprocess(img, s["region"], s["margin"])]  # view 0: exact contract preprocessing
    rng = np.random.default_rng([seed, idx])
    small, _ = shrink(img)
    for _ in range(_W["n_views"] - 1):
        views.append(augment_view(small, 1.0, s, rng))
    x = np.stack(views).astype(np.float32)
    res = _W["sess"].run(None, {"image": x})
    names = [o.name for o in _W["sess"].get_outputs()]
    for name, arr in zip(names, res):
        _W["outs"][name][idx] = arr.astype(_W["outs"][name].dtype)
    return idx


def extract(samples, data_dir, onnx_path, cache_dir, n_views, seed, workers=2):
    import onnxruntime as ort
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    specs = {}
    os.makedirs(cache_dir, exist_ok=True)
    for o in sess.get_outputs():
        shape = [d for d in o.shape[1:]]
        dtype = np.float32 if o.name == "pooled" else np.float16
        p = os.path.join(cache_dir, f"{o.name}.npy")
        np.lib.format.open_memmap(p, mode="w+", dtype=dtype, shape=(len(samples), n_views, *shape))
        specs[o.name] = (p, shape)
    del sess
    jobs = [(i, s, data_dir, seed) for i, s in enumerate(samples)]
    t0 = time.time()
    ctx = get_context("fork")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(onnx_path, specs, n_views)) as pool:
        for k, _ in enumerate(pool.imap_unordered(_work, jobs, chunksize=4)):
            if (k + 1) % 200 == 0:
                el = time.time() - t0
                print(f"  extracted {k + 1}/{len(jobs)} samples, {el:.0f}s, eta {el / (k + 1) * (len(jobs) - k - 1):.0f}s",
                      flush=True)
    return {k: p for k, (p, _) in specs.items()}
