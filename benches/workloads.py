"""Builds the two benchmark workloads of benches/compare.sh from real pool photos (numpy + Pillow).

    python benches/workloads.py POOL OUT [--seed 7] [--a-frames 40] [--b-frames 300]

POOL is the photo pool (montevideo-regions.json: 60 montevideo street scenes with their containers'
boxes). Everything is written under OUT (e.g. target/bench; never into the repository):

- OUT/a/NNN.jpg + OUT/a.json: workload A, every frame different. Each 1920x1080 frame tiles four scenes
  2x2 (each scaled to fit its 960x540 tile, aspect kept, centred on grey); its bins are the scenes'
  container boxes widened by margin 0.5 in the scene's own coordinates and clipped to the scene (exactly
  what `binwatch eval --regions ... --margin 0.5` does), mapped into the frame; the label is the scene's.
- OUT/b/NNN.jpg + OUT/b.json: workload B, a fixed camera. One tiled frame of four single-container scenes,
  repeated with sensor-like Gaussian noise (sigma 2.5 levels per channel) and slow lighting drift (gain
  0.85-1.1, offset -8..8), re-encoded each time; now and then a bin changes state: its region is painted
  over with the widened container crop of another real scene of the other label for a stretch of frames.
  The ground truth per bin and frame, and the frames where a bin's truth changes, are in b.json.

All JPEGs are written by Pillow at quality 90 (4:2:0). Frames are 10 s apart (`time_s`). Labels: `clean`
(not an alert) and `dirty` (alert), the montevideo set's.
"""
from __future__ import annotations

import argparse
import json
import os
import random

import numpy as np
from PIL import Image

W, H = 1920, 1080
TW, TH = W // 2, H // 2
MARGIN = 0.5
QUALITY = 90
GREY = (112, 112, 112)
INTERVAL_S = 10.0


def widen(box, m):
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    c = lambda v: min(max(v, 0.0), 1.0)
    return (c(x0 - m * w), c(y0 - m * h), c(x1 + m * w), c(y1 + m * h))


def fit(img: Image.Image):
    """The scene scaled to fit a tile (aspect kept): image, offset in the tile, size."""
    s = min(TW / img.width, TH / img.height)
    w, h = max(1, round(img.width * s)), max(1, round(img.height * s))
    return img.resize((w, h), Image.LANCZOS), ((TW - w) // 2, (TH - h) // 2), (w, h)


def tile(pool, scenes):
    """A 1920x1080 frame of up to four scenes, and its bins: pixel boxes (x0, y0, x1, y1) in the frame."""
    frame = Image.new("RGB", (W, H), GREY)
    bins = []
    for k, e in enumerate(scenes):
        img = Image.open(os.path.join(pool, e["path"])).convert("RGB")
        fitted, (ox, oy), (w, h) = fit(img)
        tx, ty = (k % 2) * TW + ox, (k // 2) * TH + oy
        frame.paste(fitted, (tx, ty))
        for j, box in enumerate(e["regions"]):
            x0, y0, x1, y1 = widen(box, MARGIN)
            px = (tx + round(x0 * w), ty + round(y0 * h), tx + round(x1 * w), ty + round(y1 * h))
            bins.append({"scene": e["path"], "box": j, "label": e["label"], "px": px})
    return frame, bins


def norm(px):
    x0, y0, x1, y1 = px
    return [x0 / W, y0 / H, x1 / W, y1 / H]


def crop_of(pool, e):
    """The widened container crop of a scene (its first box), as the model would see it."""
    img = Image.open(os.path.join(pool, e["path"])).convert("RGB")
    x0, y0, x1, y1 = widen(e["regions"][0], MARGIN)
    return img.crop((round(x0 * img.width), round(y0 * img.height), round(x1 * img.width), round(y1 * img.height)))


def workload_a(pool, scenes, out, n, rng):
    os.makedirs(os.path.join(out, "a"), exist_ok=True)
    frames = []
    order = []
    while len(order) < 4 * n:
        batch = scenes[:]
        rng.shuffle(batch)
        order += batch
    for i in range(n):
        frame, bins = tile(pool, order[4 * i: 4 * i + 4])
        name = f"a/{i:03d}.jpg"
        frame.save(os.path.join(out, name), quality=QUALITY)
        frames.append({
            "file": name,
            "time_s": i * INTERVAL_S,
            "bins": [{"id": f"f{i}-{k}", "region": norm(b["px"]), "label": b["label"], "scene": b["scene"]}
                     for k, b in enumerate(bins)],
        })
    return {"workload": "A", "width": W, "height": H, "quality": QUALITY, "frames": frames}


def workload_b(pool, scenes, out, n, rng, nprng):
    os.makedirs(os.path.join(out, "b"), exist_ok=True)
    single = [e for e in scenes if len(e["regions"]) == 1]
    clean = [e for e in single if e["label"] == "clean"]
    dirty = [e for e in single if e["label"] == "dirty"]
    rng.shuffle(clean)
    rng.shuffle(dirty)
    base_scenes = [clean[0], dirty[0], clean[1], dirty[1]]
    frame, bins = tile(pool, base_scenes)
    base = np.asarray(frame, dtype=np.float32)
    # stand-ins of the other label for each bin (other scenes than the base ones)
    stand_in = {0: dirty[2], 1: clean[2], 2: dirty[3], 3: clean[3]}
    # stretches [start, end) during which a bin shows its stand-in, spread over the run
    f = lambda x: int(round(x * n))
    swaps = [(0, f(0.15), f(0.45)), (1, f(0.30), f(0.55)), (2, f(0.60), f(0.85)), (3, f(0.70), f(0.80))]
    patches = {}
    for b, _, _ in swaps:
        x0, y0, x1, y1 = bins[b]["px"]
        patch = crop_of(pool, stand_in[b]).resize((x1 - x0, y1 - y0), Image.LANCZOS)
        patches[b] = np.asarray(patch, dtype=np.float32)
    other = {"clean": "dirty", "dirty": "clean"}
    truth = [[b["label"]] * n for b in bins]
    for b, s, e in swaps:
        for t in range(s, e):
            truth[b][t] = other[bins[b]["label"]]
    frames = []
    for t in range(n):
        img = base.copy()
        for b, s, e in swaps:
            if s <= t < e:
                x0, y0, x1, y1 = bins[b]["px"]
                img[y0:y1, x0:x1] = patches[b]
        gain = 0.975 + 0.125 * np.sin(2 * np.pi * t / n)
        offset = 8.0 * np.sin(2 * np.pi * t / (0.6 * n) + 1.0)
        img = img * gain + offset + nprng.normal(0.0, 2.5, img.shape).astype(np.float32)
        name = f"b/{t:03d}.jpg"
        Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8)).save(os.path.join(out, name), quality=QUALITY)
        frames.append({
            "file": name,
            "time_s": t * INTERVAL_S,
            "bins": [{"id": f"bin-{k}", "region": norm(b["px"]), "label": truth[k][t]} for k, b in enumerate(bins)],
        })
    changes = []
    for k in range(len(bins)):
        for t in range(1, n):
            if truth[k][t] != truth[k][t - 1]:
                changes.append({"bin": f"bin-{k}", "frame": t, "from": truth[k][t - 1], "to": truth[k][t]})
    return {
        "workload": "B", "width": W, "height": H, "quality": QUALITY, "frames": frames,
        "base_scenes": [e["path"] for e in base_scenes],
        "stand_ins": {f"bin-{k}": e["path"] for k, e in stand_in.items()},
        "changes": changes,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pool")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--a-frames", type=int, default=40)
    ap.add_argument("--b-frames", type=int, default=300)
    a = ap.parse_args()
    with open(os.path.join(a.pool, "montevideo-regions.json")) as f:
        scenes = json.load(f)
    rng = random.Random(a.seed)
    nprng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)
    for name, wl in (("a", workload_a(a.pool, scenes, a.out, a.a_frames, rng)),
                     ("b", workload_b(a.pool, scenes, a.out, a.b_frames, rng, nprng))):
        wl["seed"] = a.seed
        with open(os.path.join(a.out, f"{name}.json"), "w") as f:
            json.dump(wl, f, indent=1)
        nbins = sum(len(fr["bins"]) for fr in wl["frames"])
        print(f"workload {wl['workload']}: {len(wl['frames'])} frames, {nbins / len(wl['frames']):.1f} bins per frame"
              + (f", {len(wl['changes'])} state changes" if "changes" in wl else ""))


if __name__ == "__main__":
    main()
