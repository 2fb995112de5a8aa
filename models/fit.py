"""Training of the head (frozen features) and of the last blocks (fine-tuning) on cached activations,
out-of-fold evaluation, temperature scaling and metrics."""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from binwatch_model import CLASSES, Head, Tail

# share of the total loss per (set, kind); within a group every sample weighs the same
SHARES = {("cctv-topdown", "crop"): 0.35, ("street-cn", "crop"): 0.25,
          ("montevideo", "region"): 0.15, ("montevideo", "scene"): 0.25,
          ("site", "crop"): 0.35}  # a site's own crops (train.py --site), only when given
EVAL_GROUPS = [("cctv-topdown", "crop"), ("street-cn", "crop"), ("montevideo", "region"), ("montevideo", "scene"),
               ("site", "crop")]


def sample_weights(samples, idx, shares=SHARES):
    keys = [(samples[i]["set"], samples[i]["kind"]) for i in idx]
    cnt = {}
    for k in keys:
        cnt[k] = cnt.get(k, 0) + 1
    w = np.array([shares.get(k, 0.0) / cnt[k] for k in keys], dtype=np.float64)
    return (w / w.sum() * len(w)).astype(np.float32)


def partial_label_loss(logits, target, weight):
    """target 0/1/2 = class; 3 = empty-or-partial: -log(p_empty + p_partial)."""
    logp = torch.log_softmax(logits, dim=1)
    lse_np = torch.logsumexp(logp[:, :2], dim=1)
    t = target.clamp(max=2)
    single = logp.gather(1, t[:, None])[:, 0]
    ll = torch.where(target == 3, lse_np, single)
    return -(ll * weight).sum() / weight.sum()


def _torch_seed(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)


class HeadOnly(nn.Module):
    def __init__(self, dropout):
        super().__init__()
        self.head = Head(1280, 3, dropout)

    def forward(self, x):
        return self.head(x)


class TailHead(nn.Module):
    def __init__(self, net, start, dropout):
        super().__init__()
        self.tail = Tail(net, start)
        self.head = Head(1280, 3, dropout)

    def forward(self, x):
        return self.head(self.tail(x))

    def train(self, mode=True):
        super().train(mode)
        for m in self.tail.modules():  # frozen BatchNorm statistics (small data)
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self


def train_model(model, feats, samples, train_idx, views, hp, seed, log=None):
    """feats: array [N, V, ...] (memmap ok). Trains on all `views` of train_idx samples."""
    _torch_seed(seed)
    rng = np.random.default_rng(seed)
    tgt = np.array([samples[i]["target"] for i in train_idx], dtype=np.int64)
    w = sample_weights(samples, train_idx, hp.get("shares", SHARES))
    params = [p for p in model.parameters() if p.requires_grad]
    head_params = list(model.head.parameters())
    other = [p for p in params if all(p is not q for q in head_params)]
    groups = [{"params": head_params, "lr": hp["lr"]}]
    if other:
        groups.append({"params": other, "lr": hp.get("lr_body", hp["lr"] * 0.1)})
    opt = torch.optim.AdamW(groups, weight_decay=hp["wd"])
    n = len(train_idx)
    epochs, bs = hp["epochs"], hp["bs"]
    per_epoch = n * (hp.get("views_per_epoch") or len(views))
    steps = epochs * ((per_epoch + bs - 1) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in groups], total_steps=steps,
                                                pct_start=0.1)
    model.train()
    t0 = time.time()
    ti = np.asarray(train_idx)
    for ep in range(epochs):
        k = hp.get("views_per_epoch")
        if k:  # a random subset of k views of every sample per epoch
            vv = np.asarray(views)
            ch = np.stack([rng.choice(vv, size=k, replace=False) for _ in range(n)])
            pairs = np.stack([np.repeat(np.arange(n), k), ch.reshape(-1)], -1)
        else:
            pairs = np.stack(np.meshgrid(np.arange(n), np.asarray(views), indexing="ij"), -1).reshape(-1, 2)
        pairs = pairs[rng.permutation(len(pairs))]
        tot = 0.0
        for b in range(0, len(pairs), bs):
            p = pairs[b:b + bs]
            order = np.lexsort((p[:, 1], ti[p[:, 0]]))  # memmap-friendly ordering
            p = p[order]
            x = torch.from_numpy(np.asarray(feats[ti[p[:, 0]], p[:, 1]], dtype=np.float32))
            logits = model(x)
            loss = partial_label_loss(logits, torch.from_numpy(tgt[p[:, 0]]), torch.from_numpy(w[p[:, 0]]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(p)
        if log and (ep == epochs - 1 or hp.get("verbose")):
            log(f"    epoch {ep + 1}/{epochs} loss {tot / len(pairs):.4f} ({time.time() - t0:.0f}s)")
    model.eval()
    return model


@torch.no_grad()
def predict_logits(model, feats, idx, view=0, bs=256):
    model.eval()
    out = []
    for b in range(0, len(idx), bs):
        ii = np.asarray(idx[b:b + bs])
        out.append(model(torch.from_numpy(np.asarray(feats[ii, view], dtype=np.float32))).numpy())
    return np.concatenate(out) if out else np.zeros((0, 3), np.float32)


def softmax(z):
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def nll(logits, targets, T=1.0):
    p = softmax(logits / T)
    p_np = p[:, 0] + p[:, 1]
    ll = np.where(targets == 3, p_np, p[np.arange(len(p)), np.minimum(targets, 2)])
    return float(-np.log(np.clip(ll, 1e-12, None)).mean())


def fit_temperature(logits, targets):
    grid = np.exp(np.linspace(np.log(0.3), np.log(6.0), 400))
    losses = [nll(logits, targets, t) for t in grid]
    return float(grid[int(np.argmin(losses))])


def binary_metrics(pred_full, true_full):
    pred_full = np.asarray(pred_full, bool)
    true_full = np.asarray(true_full, bool)
    tp = int((pred_full & true_full).sum())
    fp = int((pred_full & ~true_full).sum())
    fn = int((~pred_full & true_full).sum())
    tn = int((~pred_full & ~true_full).sum())
    tpr = tp / max(tp + fn, 1)
    tnr = tn / max(tn + fp, 1)
    return dict(n=len(true_full), n_full=int(true_full.sum()), balanced_accuracy=round((tpr + tnr) / 2, 4),
                precision_full=round(tp / max(tp + fp, 1), 4), recall_full=round(tpr, 4),
                specificity=round(tnr, 4), tp=tp, fp=fp, fn=fn, tn=tn)


def evaluate(samples, logits, T=1.0, idx=None):
    idx = np.arange(len(samples)) if idx is None else np.asarray(idx)
    probs = softmax(logits / T)
    pred = probs.argmax(1)  # the runtime alerts when the most probable class is an alert class
    res = {}
    for g in EVAL_GROUPS:
        m = np.array([(samples[i]["set"], samples[i]["kind"]) == g for i in idx])
        if not m.any():
            continue
        tgt = np.array([samples[i]["target"] for i in idx[m]])
        r = binary_metrics(pred[m] == 2, tgt == 2)
        r["nll"] = round(nll(logits[m], tgt, T), 4)
        if g[0] == "cctv-topdown":
            cm = np.zeros((3, 3), int)
            for t, p in zip(tgt, pred[m]):
                cm[t, p] += 1
            r["confusion_3class"] = {"rows_true_cols_pred": CLASSES, "matrix": cm.tolist()}
            r["accuracy_3class"] = round(float(np.trace(cm) / cm.sum()), 4)
            per_sess = {}
            for s in sorted({samples[i]["session"] for i in idx[m]}):
                ms = np.array([samples[i]["session"] == s for i in idx[m]])
                per_sess[s] = binary_metrics(pred[m][ms] == 2, tgt[ms] == 2)
            r["per_session"] = per_sess
        res[f"{g[0]}/{g[1]}"] = r
    return res


def cross_validate(make_model, feats, samples, views, hp, seed, n_folds, log):
    folds = np.array([s["fold"] for s in samples])
    oof = np.zeros((len(samples), 3), np.float32)
    for f in range(n_folds):
        t0 = time.time()
        tr = np.nonzero(folds != f)[0]
        va = np.nonzero(folds == f)[0]
        model = train_model(make_model(), feats, samples, tr, views, hp, seed + f, log)
        oof[va] = predict_logits(model, feats, va)
        log(f"  fold {f}: train {len(tr)} val {len(va)} ({time.time() - t0:.0f}s)")
    return oof


@torch.no_grad()
def derive_act16(net, act15, path, bs=128, log=None):
    """Run block 15 on the cached act15 to cache the activations entering conv_head (float16)."""
    blk = net._blocks[15].eval()
    N, V = act15.shape[:2]
    out = np.lib.format.open_memmap(path + ".tmp.npy", mode="w+", dtype=np.float16, shape=(N, V, 320, 7, 7))
    flat_in = act15.reshape(N * V, *act15.shape[2:])
    flat_out = out.reshape(N * V, 320, 7, 7)
    t0 = time.time()
    for b in range(0, N * V, bs):
        x = torch.from_numpy(np.asarray(flat_in[b:b + bs], dtype=np.float32))
        flat_out[b:b + bs] = blk(x).numpy().astype(np.float16)
    out.flush()
    del out, flat_out
    import os
    os.replace(path + ".tmp.npy", path)
    if log:
        log(f"  act16 cache written in {time.time() - t0:.0f}s")
