#!/usr/bin/env python3
"""Train binwatch's fill-level model end to end (see models/MODEL_CARD.md).

    models/train.sh ../shared/datasets            # creates models/.venv, then runs this file
    python models/train.py --data ../shared/datasets --out models

Writes OUT/bin-fill.onnx, OUT/training-manifest.csv, OUT/validation.json. Heavy caches go to --work
(default models/.work, gitignored).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import data  # noqa: E402
import fit  # noqa: E402
from binwatch_model import load_backbone  # noqa: E402

T0 = time.time()


def log(msg):
    print(f"[{time.time() - T0:7.1f}s] {msg}", flush=True)


class Stage:
    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.t = time.time()
        log(f"== {self.name}")

    def __exit__(self, *a):
        log(f"== {self.name}: done in {time.time() - self.t:.1f}s")


HP_HEAD = dict(lr=3e-3, wd=1e-2, epochs=30, bs=512, dropout=0.0)
HP_BASELINE = dict(lr=3e-3, wd=1e-4, epochs=30, bs=256, dropout=0.0)
HP_FT = dict(lr=2e-3, lr_body=5e-5, wd=1e-2, epochs=6, bs=64, dropout=0.0)


def file_sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="photo pool (folder with manifest.csv)")
    ap.add_argument("--out", default=HERE, help="where bin-fill.onnx, training-manifest.csv, validation.json go")
    ap.add_argument("--work", default=os.path.join(HERE, ".work"), help="cache folder (features)")
    ap.add_argument("--views", type=int, default=8, help="views per sample: 1 exact + (views-1) augmented")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--finetune", choices=["none", "h16", "b15", "b11"], default="h16",
                    help="none: frozen backbone + head; h16: also train conv_head; b15/b11: also train blocks 15.. / 11.. "
                         "and conv_head")
    ap.add_argument("--no-mv-scenes", action="store_true", help="do not use montevideo scenes without a box")
    ap.add_argument("--site", default=None,
                    help="a site's own labelled crops: SITE/<empty|partial|full|not_full>/[<camera>/]*.jpg, "
                         "learned together with the pool (see MODEL_CARD.md)")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--model-version", default="2026.12.0")
    args = ap.parse_args()

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.work, exist_ok=True)
    report = dict(command=" ".join(sys.argv), python=platform.python_version(), torch=torch.__version__,
                  seed=args.seed, views=args.views, finetune=args.finetune, stages={})

    with Stage("samples and folds"):
        t = time.time()
        samples = data.build_samples(args.data, use_mv_scenes=not args.no_mv_scenes, site_dir=args.site)
        man_path = os.path.join(args.out, "training-manifest.csv")
        man_sha = data.write_manifest(samples, man_path)
        log(f"{len(samples)} samples, manifest sha256 {man_sha}")
        report["stages"]["samples"] = round(time.time() - t, 1)

    trunk_path = os.path.join(args.work, "trunk.onnx")
    cache_dir = os.path.join(args.work, f"cache-{man_sha[:12]}-v{args.views}-s{args.seed}")
    with Stage("feature extraction (onnxruntime, augmented views)"):
        t = time.time()
        done_flag = os.path.join(cache_dir, "DONE")
        if os.path.exists(done_flag):
            log(f"reusing cache {cache_dir}")
        else:
            import export_trunk
            export_trunk.export(trunk_path)
            data.extract(samples, args.data, trunk_path, cache_dir, args.views, args.seed, args.workers)
            open(done_flag, "w").write("ok\n")
        feats = {k: np.load(os.path.join(cache_dir, f"{k}.npy"), mmap_mode="r") for k in ("pooled", "act15", "act11")}
        feats["pooled"] = np.ascontiguousarray(feats["pooled"])  # small: keep in RAM
        if args.finetune == "h16":
            p16 = os.path.join(cache_dir, "act16.npy")
            if not os.path.exists(p16):
                fit.derive_act16(load_backbone(), feats["act15"], p16, log=log)
            feats["act16"] = np.load(p16, mmap_mode="r")
        report["stages"]["extract"] = round(time.time() - t, 1)

    all_views = list(range(args.views))
    results = {}
    oofs = {}

    if not args.skip_baseline:
        with Stage("CV baseline: frozen features, linear head, exact view only"):
            t = time.time()
            oof = fit.cross_validate(lambda: fit.HeadOnly(0.0), feats["pooled"], samples, [0], HP_BASELINE,
                                     args.seed, data.N_FOLDS, log)
            results["baseline_frozen_linear"] = fit.evaluate(samples, oof)
            report["stages"]["cv_baseline"] = round(time.time() - t, 1)

    with Stage("CV frozen features + augmentation, linear head"):
        t = time.time()
        oof = fit.cross_validate(lambda: fit.HeadOnly(HP_HEAD["dropout"]), feats["pooled"], samples, all_views,
                                 HP_HEAD, args.seed, data.N_FOLDS, log)
        oofs["head"] = oof
        results["frozen_aug_head"] = fit.evaluate(samples, oof)
        report["stages"]["cv_head"] = round(time.time() - t, 1)

    start = {"h16": 16, "b15": 15, "b11": 11}.get(args.finetune)
    if start is not None:
        key = f"act{start}"
        with Stage(f"CV fine-tuning blocks {start}.. + conv_head + head"):
            t = time.time()
            oof = fit.cross_validate(lambda: fit.TailHead(load_backbone(), start, HP_FT["dropout"]), feats[key],
                                     samples, all_views, HP_FT, args.seed, data.N_FOLDS, log)
            oofs["ft"] = oof
            results[f"finetune_b{start}"] = fit.evaluate(samples, oof)
            report["stages"]["cv_finetune"] = round(time.time() - t, 1)
    chosen = "ft" if start is not None else "head"

    with Stage("temperature scaling on out-of-fold logits"):
        targets = np.array([s["target"] for s in samples])
        T = fit.fit_temperature(oofs[chosen], targets)
        log(f"T = {T:.4f}; OOF NLL {fit.nll(oofs[chosen], targets):.4f} -> {fit.nll(oofs[chosen], targets, T):.4f}")
        results["shipped_oof_calibrated"] = fit.evaluate(samples, oofs[chosen], T)
        write_oof(samples, {name: fit.softmax(o / (T if name == chosen else 1.0)) for name, o in oofs.items()},
                  os.path.join(args.out, "validation-oof.csv"))
        report["temperature"] = T

    with Stage("final training on all samples"):
        t = time.time()
        idx = np.arange(len(samples))
        net = load_backbone()
        if start is None:
            model = fit.train_model(fit.HeadOnly(HP_HEAD["dropout"]), feats["pooled"], samples, idx, all_views,
                                    HP_HEAD, args.seed + 100, log)
            tail_state = None
        else:
            model = fit.train_model(fit.TailHead(net, start, HP_FT["dropout"]), feats[f"act{start}"], samples, idx,
                                    all_views, HP_FT, args.seed + 100, log)
            tail_state = model.tail.state_dict()
        report["stages"]["final_train"] = round(time.time() - t, 1)

    with Stage("export bin-fill.onnx"):
        import export_model
        path = os.path.join(args.out, "bin-fill.onnx")
        export_model.export_deployed(net, tail_state, start or 16, model.head, T, path, args.model_version, man_sha,
                                     data.MARGIN)
        info = export_model.check_model(path)
        log(f"{path}: {info['bytes']} bytes, sha256 {info['sha256']}")
        report["model"] = info

    report["validation"] = results
    report["hyperparameters"] = dict(head=HP_HEAD, baseline=HP_BASELINE, finetune=HP_FT, shares={
        f"{k[0]}/{k[1]}": v for k, v in fit.SHARES.items()})
    report["total_seconds"] = round(time.time() - T0, 1)
    with open(os.path.join(args.out, "validation.json"), "w") as f:
        json.dump(report, f, indent=1)
    summarize(results, log)
    log(f"total {time.time() - T0:.0f}s")


def write_oof(samples, probs, path):
    """Out-of-fold probabilities per sample (the chosen model's calibrated), for the model card's error analysis."""
    import csv
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "set", "kind", "label", "session", "fold", "region"]
                   + [f"{m}_p_{c}" for m in probs for c in ("empty", "partial", "full")])
        for i, s in enumerate(samples):
            w.writerow([s["path"], s["set"], s["kind"], s["label"], s["session"], s["fold"],
                        " ".join(f"{v:.5f}" for v in s["region"])]
                       + [f"{p[i, c]:.4f}" for p in probs.values() for c in range(3)])


def summarize(results, log):
    for name, res in results.items():
        line = "  ".join(f"{g}: bacc {r['balanced_accuracy']:.3f} P {r['precision_full']:.3f} R {r['recall_full']:.3f}"
                         for g, r in res.items())
        log(f"{name}: {line}")


if __name__ == "__main__":
    main()
