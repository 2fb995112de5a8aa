#!/usr/bin/env python3
"""Where the shipped recipe fails, from the out-of-fold probabilities of a training run (MODEL_CARD.md,
"Known weak spots").

    models/.venv/bin/python models/weak_spots.py ../shared/datasets [models/validation-oof.csv] [--sheet OUT.png]

Prints, per set: the error rate of the full-vs-not-full decision by scene brightness (mean luma of the sample's
region: night photos are the dark end), the most confident mistakes with their paths in the pool, and, with
--sheet, writes a contact sheet of montevideo mistakes (CC BY 4.0 photos; the other sets declare no licence,
so they are listed by path only).
"""
from __future__ import annotations

import argparse
import csv
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from binwatch_preprocess import load_rgb, widen  # noqa: E402

BUCKETS = [(0, 50, "dark (< 50)"), (50, 90, "dim (50-90)"), (90, 256, "daylight (>= 90)")]


def region_box(row, img):
    r = [float(v) for v in row["region"].split()]
    if row["kind"] == "region":
        r = widen(r, 0.5)
    H, W = img.shape[:2]
    return (int(r[0] * W), int(r[1] * H), max(int(r[0] * W) + 1, int(r[2] * W)), max(int(r[1] * H) + 1, int(r[3] * H)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("oof", nargs="?", default=os.path.join(HERE, "validation-oof.csv"))
    ap.add_argument("--model", default="ft", help="column prefix in the OOF file (ft = fine-tuned, head = frozen)")
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--sheet", default=None)
    a = ap.parse_args()
    rows = list(csv.DictReader(open(a.oof)))
    for r in rows:
        p = np.array([float(r[f"{a.model}_p_{c}"]) for c in ("empty", "partial", "full")])
        r["p_full"] = float(p[2])
        r["pred_full"] = int(p.argmax()) == 2
        r["true_full"] = r["label"] in ("full", "dirty")
        r["wrong"] = r["pred_full"] != r["true_full"]
        x0, y0, x1, y1 = region_box(r, img := load_rgb(os.path.join(a.data, r["path"])))
        crop = img[y0:y1, x0:x1].astype(np.float32)
        r["luma"] = float((crop @ np.array([0.299, 0.587, 0.114])).mean())
        r["size"] = (img.shape[1], img.shape[0])
    mistakes_mv = []
    for group in sorted({(r["set"], r["kind"]) for r in rows}):
        g = [r for r in rows if (r["set"], r["kind"]) == group]
        print(f"\n## {group[0]} / {group[1]}: {len(g)} samples, {sum(r['wrong'] for r in g)} wrong "
              f"({100 * np.mean([r['wrong'] for r in g]):.1f} %)")
        print("| brightness of the region | samples | wrong | error rate | missed full | false full |")
        print("|---|---|---|---|---|---|")
        for lo, hi, name in BUCKETS:
            b = [r for r in g if lo <= r["luma"] < hi]
            if not b:
                continue
            miss = sum(r["wrong"] and r["true_full"] for r in b)
            fa = sum(r["wrong"] and not r["true_full"] for r in b)
            print(f"| {name} | {len(b)} | {miss + fa} | {100 * (miss + fa) / len(b):.1f} % | {miss} | {fa} |")
        wrong = sorted((r for r in g if r["wrong"]), key=lambda r: -abs(r["p_full"] - 0.5))
        print(f"\nmost confident mistakes (p_full, truth):")
        for r in wrong[:a.top]:
            print(f"- `{r['path']}` ({'region ' + r['region'] if r['kind'] == 'region' else r['size']}, session "
                  f"{r['session'] or '-'}): p(full) {r['p_full']:.2f}, label {r['label']}, luma {r['luma']:.0f}")
        if group[0] == "montevideo":
            mistakes_mv += wrong[:a.top]
    if a.sheet and mistakes_mv:
        tw, th = 240, 180
        cols = 4
        n = len(mistakes_mv)
        sheet = Image.new("RGB", (cols * tw, ((n + cols - 1) // cols) * (th + 16)), "white")
        d = ImageDraw.Draw(sheet)
        for i, r in enumerate(mistakes_mv):
            img = load_rgb(os.path.join(a.data, r["path"]))
            x0, y0, x1, y1 = region_box(r, img)
            im = Image.fromarray(img[y0:y1, x0:x1]).resize((tw, th))
            x, y = (i % cols) * tw, (i // cols) * (th + 16)
            sheet.paste(im, (x, y))
            d.text((x + 2, y + th + 2), f"{r['label']} p(full)={r['p_full']:.2f} {r['kind']}", fill="black")
        sheet.save(a.sheet)
        print(f"\ncontact sheet: {a.sheet}")


if __name__ == "__main__":
    main()
