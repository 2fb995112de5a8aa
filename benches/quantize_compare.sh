#!/usr/bin/env bash
# The float model against its int8 variant on each pool set, with `binwatch eval` as .ci/eval runs it
# (same sets, aliases, regions and margin): balanced accuracy per set, and the share of items whose
# decision (alert or not) differs between the two. The int8 model ships only if its balanced accuracy
# stays within 0.01 of the float model's on every set; the script exits 1 otherwise.
#
#   benches/quantize_compare.sh [FP32.onnx] [INT8.onnx]      (default models/bin-fill.onnx, models/bin-fill-int8.onnx)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
fp32="${1:-$top/models/bin-fill.onnx}"
int8="${2:-$top/models/bin-fill-int8.onnx}"
pool="${BINWATCH_DATASETS:-$top/../shared/datasets}"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$top/.ort/libonnxruntime.so.1.31.1}"
for m in "$fp32" "$int8"; do
  [ -f "$m" ] || { echo "quantize_compare: no model at $m (models/QUANTIZE.md)" >&2; exit 1; }
done
cargo build --release --quiet
bw="$top/target/release/binwatch"
out="$top/target/quantize"
mkdir -p "$out"
run() {
  local name=$1; shift
  for tag in fp32 int8; do
    local m=$fp32
    [ "$tag" = int8 ] && m=$int8
    echo "== $name ($tag)" >&2
    "$bw" eval --model "$m" --json "$out/$name-$tag.json" "$@" >/dev/null
  done
}
run cctv-topdown --data "$pool/cctv-topdown"
run street-cn --data "$pool/street-cn" --alias not_full=empty,partial
run montevideo-regions --data "$pool" --regions "$pool/montevideo-regions.json" --margin 0.5 \
  --alias clean=empty,partial --alias dirty=full
run montevideo-scenes --data "$pool/montevideo" --alias clean=empty,partial --alias dirty=full
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
sets = ["cctv-topdown", "street-cn", "montevideo-regions", "montevideo-scenes"]
ok = True
a0 = json.load(open(os.path.join(out, f"{sets[0]}-int8.json")))
print(f"int8: {a0['model']['path']} ({a0['model'].get('quantization')}), sha256 {a0['model']['sha256'][:12]}")
print()
print("| set | samples | balanced accuracy fp32 | int8 | difference | alert decisions that differ | largest probability difference |")
print("|---|---|---|---|---|---|---|")
for s in sets:
    a = json.load(open(os.path.join(out, f"{s}-fp32.json")))
    b = json.load(open(os.path.join(out, f"{s}-int8.json")))
    ia = {(i["path"], tuple(i["region"])): i for i in a["items"]}
    flips, worst = 0, 0.0
    for i in b["items"]:
        j = ia[(i["path"], tuple(i["region"]))]
        flips += i["alert_predicted"] != j["alert_predicted"]
        worst = max(worst, max(abs(i["probabilities"][k] - j["probabilities"][k]) for k in i["probabilities"]))
    ba, bb = a["alert"]["balanced_accuracy"], b["alert"]["balanced_accuracy"]
    ok &= bb >= ba - 0.01
    print(f"| {s} | {a['samples']} | {ba:.4f} | {bb:.4f} | {bb - ba:+.4f} | {flips} ({flips / a['samples']:.1%}) | {worst:.3f} |")
print()
print("verdict: " + ("int8 within 0.01 of fp32 balanced accuracy on every set: it may ship" if ok
                     else "int8 loses more than 0.01 balanced accuracy on a set: do not ship it"))
sys.exit(0 if ok else 1)
PY
