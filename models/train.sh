#!/usr/bin/env bash
# One command to (re)train binwatch's fill-level model.
#   models/train.sh DATASETS_DIR [OUT_DIR] [extra train.py options]
# Creates models/.venv (Python >= 3.10), installs models/requirements.txt with pip, runs models/train.py.
# OUT_DIR defaults to models/ (bin-fill.onnx, training-manifest.csv, validation.json); caches go to models/.work.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA="${1:?usage: models/train.sh DATASETS_DIR [OUT_DIR] [train.py options]}"
OUT="${2:-$HERE}"
shift; [ $# -gt 0 ] && shift
PY="${PYTHON:-python3}"
VENV="$HERE/.venv"
t0=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/pip" install --disable-pip-version-check -q -r "$HERE/requirements.txt"
echo "[train.sh] environment ready in $(( $(date +%s) - t0 ))s"
export PYTHONHASHSEED=0 OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
"$VENV/bin/python" "$HERE/train.py" --data "$DATA" --out "$OUT" "$@"
echo "[train.sh] total $(( $(date +%s) - t0 ))s"
