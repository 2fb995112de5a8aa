#!/usr/bin/env python3
"""Side measurements quoted in MODEL_CARD.md; they reuse the feature cache written by train.py.

    python models/experiments.py --data ../shared/datasets mv-scenes      # use montevideo scenes without box?
    python models/experiments.py --data ../shared/datasets shares         # loss share of the sets
    python models/experiments.py --data ../shared/datasets head-hp        # weight decay and epochs of the head
    python models/experiments.py --data ../shared/datasets pooling        # richer frozen features
    python models/experiments.py --data ../shared/datasets full-bias      # a decision bias on `full`
    python models/experiments.py --data ../shared/datasets ft16 ft16:lr_body=5e-5   # fine-tune conv_head
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import data  # noqa: E402
import fit  # noqa: E402
from binwatch_model import load_backbone  # noqa: E402
from train import HP_HEAD, HP_FT  # noqa: E402


def cv(samples, feats, make, views, hp, seed, train_filter=None):
    folds = np.array([s["fold"] for s in samples])
    oof = np.zeros((len(samples), 3), np.float32)
    for f in range(data.N_FOLDS):
        tr = [i for i in np.nonzero(folds != f)[0] if train_filter is None or train_filter(samples[i])]
        va = np.nonzero(folds == f)[0]
        m = fit.train_model(make(), feats, samples, np.array(tr), views, hp, seed + f)
        oof[va] = fit.predict_logits(m, feats, va)
    return oof


class Linear(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.head = fit.Head(dim, 3, 0.0)

    def forward(self, x):
        return self.head(x)


@torch.no_grad()
def spatial_features(act16, bs=256):
    """[N, V, 6, 1280] float16: mean, max and the four 4x4 quadrant means of conv_head's 7x7 map (frozen)."""
    net = load_backbone()
    conv, bn = net._conv_head.eval(), net._bn1.eval()
    N, V = act16.shape[:2]
    flat = act16.reshape(N * V, *act16.shape[2:])
    out = np.zeros((N * V, 6, 1280), np.float16)
    for b in range(0, N * V, bs):
        y = torch.clamp(bn(conv(torch.from_numpy(np.asarray(flat[b:b + bs], dtype=np.float32)))), 0, 6)
        q = [y[:, :, :4, :4], y[:, :, :4, 3:], y[:, :, 3:, :4], y[:, :, 3:, 3:]]
        out[b:b + bs] = torch.stack([y.mean((2, 3)), y.amax((2, 3))] + [t.mean((2, 3)) for t in q], 1).numpy()
    return out.reshape(N, V, 6, 1280)


def short(res):
    return {g: dict(bacc=r["balanced_accuracy"], P=r["precision_full"], R=r["recall_full"], nll=r["nll"])
            for g, r in res.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--work", default=os.path.join(HERE, ".work"))
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("what", nargs="+")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    samples = data.build_samples(a.data)
    import hashlib
    tmp = os.path.join(a.work, "manifest-tmp.csv")
    sha = data.write_manifest(samples, tmp)
    cache = os.path.join(a.work, f"cache-{sha[:12]}-v{a.views}-s{a.seed}")
    feats = {k: np.load(os.path.join(cache, f"{k}.npy"), mmap_mode="r") for k in ("pooled", "act15", "act11")}
    if os.path.exists(os.path.join(cache, "act16.npy")):
        feats["act16"] = np.load(os.path.join(cache, "act16.npy"), mmap_mode="r")
    views = list(range(a.views))
    out = {}
    for w in a.what:
        t = time.time()
        if w == "mv-scenes":
            for name, flt in [("with_scenes", None), ("without_scenes", lambda s: s["kind"] != "scene")]:
                oof = cv(samples, feats["pooled"], lambda: fit.HeadOnly(HP_HEAD["dropout"]), views, HP_HEAD, a.seed, flt)
                out[f"mv-scenes/{name}"] = short(fit.evaluate(samples, oof))
        elif w == "shares":
            base = dict(fit.SHARES)
            for name, sh in [("equal_sets", {k: 0.25 for k in base}),
                             ("regions_x2", {**base, ("montevideo", "region"): 0.30}),
                             ("default", base)]:
                hp = dict(HP_HEAD, shares=sh)
                oof = cv(samples, feats["pooled"], lambda: fit.HeadOnly(HP_HEAD["dropout"]), views, hp, a.seed)
                out[f"shares/{name}"] = short(fit.evaluate(samples, oof))
        elif w == "head-hp":
            for wd in (1e-3, 1e-2, 1e-1):
                for ep in (15, 40):
                    hp = dict(HP_HEAD, wd=wd, epochs=ep)
                    oof = cv(samples, feats["pooled"], lambda: fit.HeadOnly(HP_HEAD["dropout"]), views, hp, a.seed)
                    out[f"head-hp/wd{wd}_ep{ep}"] = short(fit.evaluate(samples, oof))
        elif w == "pooling":  # richer frozen features: global max and 2x2 quadrant means of conv_head's map
            sp = spatial_features(feats["act16"])
            hp = dict(HP_HEAD, epochs=15)
            for name, sel in [("mean", [0]), ("mean+max", [0, 1]), ("mean+quadrants", [0, 2, 3, 4, 5])]:
                x = np.ascontiguousarray(sp[:, :, sel].reshape(sp.shape[0], sp.shape[1], -1).astype(np.float32))
                oof = cv(samples, x, lambda: Linear(x.shape[-1]), views, hp, a.seed)
                out[f"pooling/{name}"] = short(fit.evaluate(samples, oof))
        elif w == "full-bias":  # a decision bias on the full logit of the augmented frozen head
            oof = cv(samples, feats["pooled"], lambda: fit.HeadOnly(HP_HEAD["dropout"]), views, HP_HEAD, a.seed)
            tg = np.array([s["target"] for s in samples])
            T = fit.fit_temperature(oof, tg)
            for b in (-1.0, -0.5, 0.0, 0.5, 1.0):
                o = oof.copy()
                o[:, 2] += b * T
                out[f"full-bias/{b:+.1f}"] = short(fit.evaluate(samples, o, T))
        elif w.startswith("ft"):  # ft15 / ft11, optional :epochs
            parts = w.split(":")
            start = int(parts[0][2:])
            hp = dict(HP_FT)
            for kv in parts[1:]:
                k, v = kv.split("=")
                hp[k] = type(HP_FT.get(k, 0.0))(v) if k in HP_FT else float(v) if "." in v or "e" in v else int(v)
            oof = cv(samples, feats[f"act{start}"], lambda: fit.TailHead(load_backbone(), start, hp["dropout"]),
                     views, hp, a.seed)
            out[w] = short(fit.evaluate(samples, oof))
            np.save(os.path.join(a.work, f"oof-{w.replace(':', '_')}.npy"), oof)
        print(f"--- {w} ({time.time() - t:.0f}s)")
        for k, v in out.items():
            if k.startswith(w.split(":")[0]):
                print(k, json.dumps(v))
        sys.stdout.flush()
    json.dump(out, open(os.path.join(a.work, f"exp-{'-'.join(a.what)}.json".replace(":", "_")), "w"), indent=1)


if __name__ == "__main__":
    main()
