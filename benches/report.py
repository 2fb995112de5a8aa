"""Markdown tables from the result files of benches/compare.sh (standard library only).

    python3 benches/report.py target/bench/results [--workloads target/bench]

Reads RESULTS/<workload>-<side>-<model>.json (written by benches/frames.rs and benches/peer.py) and prints:
throughput per workload and pipeline, binwatch's per-stage breakdown, and for workload B the bins' state
changes each side detects against the ground truth (alert = the most probable class is an alert class;
the truth is the label of what the region shows: `dirty` = alert).
"""
import argparse
import glob
import json
import os
import platform
import subprocess


def load(results):
    runs = []
    for p in sorted(glob.glob(os.path.join(results, "*.json"))):
        with open(p) as f:
            r = json.load(f)
        r["_file"] = os.path.basename(p)
        r["_model_name"] = os.path.splitext(os.path.basename(r["model"]))[0]
        runs.append(r)
    return runs


def machine():
    name = platform.processor() or platform.machine()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                name = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} CPUs"


def changes(seq):
    """Frames where a per-frame boolean sequence changes value."""
    return [t for t in range(1, len(seq)) if seq[t] != seq[t - 1]]


def decisions(run):
    """{bin id: [alert per frame]} and {bin id: [truth alert per frame]}."""
    got, truth = {}, {}
    for fr in run["decisions"]:
        for b in fr["bins"]:
            got.setdefault(b["id"], []).append(bool(b["alert"]))
            truth.setdefault(b["id"], []).append(b["label"] == "dirty")
    return got, truth


def fmt_frames(v):
    return ", ".join(str(t) for t in v) if v else "none"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    a = ap.parse_args()
    runs = load(a.results)
    if not runs:
        raise SystemExit(f"no results in {a.results}")
    by = {}
    for r in runs:
        by[(r["workload"], r["side"], r["_model_name"])] = r
    workloads = sorted({r["workload"] for r in runs})
    models = sorted({r["_model_name"] for r in runs}, key=lambda m: ("int8" in m, m))

    print(f"Machine: {machine()}; one intra-op thread on both sides; frames read into memory first.")
    print()
    print("| workload | pipeline | model | frames/s | vs peer, same model | vs peer, fp32 | latency p50 / p95 ms "
          "| CPU ms/frame | peak RSS MB (frames held) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for w in workloads:
        base32 = by.get((w, "peer", models[0]))
        for side in ("peer", "binwatch"):
            for m in models:
                r = by.get((w, side, m))
                if not r:
                    continue
                peer = by.get((w, "peer", m))
                rel = f"{r['fps'] / peer['fps']:.2f}x" if peer else "-"
                rel32 = f"{r['fps'] / base32['fps']:.2f}x" if base32 else "-"
                q = r.get("quantization") or "fp32"
                print(f"| {w} | {side} | {m} ({q}) | {r['fps']:.2f} | {rel} | {rel32} | "
                      f"{r['latency_ms']['p50']:.1f} / {r['latency_ms']['p95']:.1f} | "
                      f"{r['cpu_s_per_frame'] * 1e3:.1f} | {r['peak_rss_mb']:.0f} ({r['frames_mb']:.0f}) |")
    print()
    print("binwatch per frame (ms): stages, the share of the frame time beyond decode + inference, skips, "
          "decode scales")
    print()
    print("| workload | model | thumbnail | signature | RGB decode | resample | inference | rest | beyond decode + "
          "inference | bins inferred / skipped | frames by decode scale | Rust heap allocations per frame |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for w in workloads:
        for m in models:
            r = by.get((w, "binwatch", m))
            if not r:
                continue
            s = r["stages_ms_per_frame"]
            beyond = (s["signature"] + s["resample"] + s["rest"]) / s["total"] if s["total"] else 0.0
            scales = ", ".join(f"{k}: {v}" for k, v in sorted(r["decode_scales"].items()))
            print(f"| {w} | {m} | {s['thumbnail']:.2f} | {s['signature']:.3f} | {s['decode']:.2f} | "
                  f"{s['resample']:.2f} | {s['inference']:.2f} | {s['rest']:.3f} | {beyond:.1%} | "
                  f"{r['inferred']} / {r['skipped']} | {scales} | "
                  f"{r['rust_allocations_per_frame']:.0f} ({r['rust_allocated_kb_per_frame']:.0f} KB) |")
    print()
    print("Decode = the 1/8 luma thumbnail plus the RGB decode; \"beyond decode + inference\" = signature, "
          "resampling and the rest, over the whole frame time.")
    b_runs = [(side, m) for side in ("peer", "binwatch") for m in models if ("B", side, m) in by]
    if b_runs:
        print()
        print("Workload B decisions: frames where each bin's alert decision changes, against the ground truth")
        print()
        truth = decisions(by[("B",) + b_runs[0]])[1]
        head = "| bin | ground truth | " + " | ".join(f"{s} {m}" for s, m in b_runs) + " |"
        print(head)
        print("|---" * (2 + len(b_runs)) + "|")
        seqs = {k: decisions(by[("B",) + k])[0] for k in b_runs}
        for bin_id in sorted(truth):
            cells = [fmt_frames(changes(seqs[k][bin_id])) for k in b_runs]
            print(f"| {bin_id} | {fmt_frames(changes(truth[bin_id]))} | " + " | ".join(cells) + " |")
        n = sum(len(v) for v in truth.values())
        wrong = [sum(a != t for b in truth for a, t in zip(seqs[k][b], truth[b])) for k in b_runs]
        print("| frames x bins unlike the truth | - | " + " | ".join(f"{x} of {n}" for x in wrong) + " |")
        ref = ("peer", models[0])
        if ref in seqs:
            diff = [sum(a != c for b in truth for a, c in zip(seqs[k][b], seqs[ref][b])) for k in b_runs]
            print(f"| frames x bins unlike peer {models[0]} | - | " + " | ".join(f"{x} of {n}" for x in diff) + " |")


if __name__ == "__main__":
    main()
