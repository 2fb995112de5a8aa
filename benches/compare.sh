#!/usr/bin/env bash
# binwatch's frame pipeline against a Python peer (Pillow + numpy + onnxruntime, benches/peer.py), on the same
# frames, the same model files and one thread each, in one invocation; prints a Markdown table.
#
#   benches/compare.sh [--rebuild] [--repeat N]
#
# 1. set-up (.ci/setup), the peer's venv in target/bench/peer-venv (benches/peer-requirements.txt, from PyPI),
#    the release build of benches/frames.rs;
# 2. workloads from the photo pool ($BINWATCH_DATASETS, default ../shared/datasets) into target/bench/
#    (benches/workloads.py; kept between runs, --rebuild makes them again): A = every frame different,
#    B = a fixed camera with noise, lighting drift and bins changing state;
# 3. for each workload and model (models/bin-fill.onnx, and models/bin-fill-int8.onnx when present, or
#    $BINWATCH_INT8): the peer, then binwatch, each in its own process (peak RSS is per process);
#    with --repeat N every run is done N times and the report uses the last;
# 4. benches/report.py over target/bench/results/*.json.
# Run it on a quiet machine: other jobs on the same cores change every figure.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
rebuild=0
repeat=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rebuild) rebuild=1 ;;
    --repeat) repeat=$2; shift ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
bash .ci/setup
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$top/.ort/libonnxruntime.so.1.31.1}"
pool="${BINWATCH_DATASETS:-$top/../shared/datasets}"
out="$top/target/bench"
venv="$out/peer-venv"
mkdir -p "$out/results"

if [ ! -x "$venv/bin/python" ]; then
  echo "compare: making the peer's venv in $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet -r benches/peer-requirements.txt
fi
py="$venv/bin/python"

if [ "$rebuild" = 1 ] || [ ! -f "$out/a.json" ] || [ ! -f "$out/b.json" ]; then
  echo "compare: building the workloads from $pool" >&2
  "$py" benches/workloads.py "$pool" "$out"
fi

cargo bench --no-run --quiet --bench frames
models=("$top/models/bin-fill.onnx")
int8="${BINWATCH_INT8:-$top/models/bin-fill-int8.onnx}"
if [ -f "$int8" ]; then
  models+=("$int8")
else
  echo "compare: no int8 model at $int8 (models/QUANTIZE.md); fp32 only" >&2
fi

{
  echo "# $(date -u +%FT%TZ) $(uname -srm), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
} > "$out/results/run.txt"
rm -f "$out/results"/*.json
for w in a b; do
  W=$(echo "$w" | tr a-z A-Z)
  for m in "${models[@]}"; do
    name=$(basename "$m" .onnx)
    for _ in $(seq "$repeat"); do
      "$py" benches/peer.py "$out/$w.json" --model "$m" --json "$out/results/$W-peer-$name.json"
      cargo bench --quiet --bench frames -- --workload "$out/$w.json" --model "$m" \
        --json "$out/results/$W-binwatch-$name.json"
    done
  done
done
echo "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/results/run.txt"
echo
cat "$out/results/run.txt"
echo
python3 benches/report.py "$out/results"
