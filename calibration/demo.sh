#!/usr/bin/env bash
# binwatch demo: stages real cctv-topdown photos from the pool into target/demo/replay (never committed),
# starts `binwatch receive` on 127.0.0.1:8088, runs the daemon on calibration/demo.toml until the replay
# ends and every work order is delivered, then stops the receiver. Work orders are printed by the
# receiver and stored in target/demo/orders.jsonl. Needs a release build (cargo build --release).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
pool=${BINWATCH_DATASETS:-$top/../shared/datasets}
bin=${BINWATCH_BIN:-$top/target/release/binwatch}
demo=$top/target/demo
[ -x "$bin" ] || { echo "demo: $bin missing; run cargo build --release" >&2; exit 1; }
[ -d "$pool/cctv-topdown" ] || { echo "demo: photo pool not found at $pool (set BINWATCH_DATASETS)" >&2; exit 1; }

e=cctv-topdown/empty; p=cctv-topdown/partial; f=cctv-topdown/full
frames=(
  "$e/ScuolaDante_IP360-2022_10_16-X10_5801_jpg.rf.c06b852c21954077d32da11491f60e56.jpg"
  "$e/ScuolaDante_IP360-2022_10_16-X10_2611---Copia_jpg.rf.5622963a4ab6916697d61571c5fb84f6.jpg"
  "$e/ScuolaDante_IP360-2022_10_16-X10_3481_jpg.rf.553c14ef94d52e7a2d9d235c57e8ca53.jpg"
  "$p/ScuolaDante_IP360-2022_10_18-10X_1740_jpg.rf.eea3e236de617d15567049cd53c32f59.jpg"
  "$p/ScuolaDante_IP360-2022_10_18-10X_2320_jpg.rf.b6777d90b89c4bb9147230f9242f6dd4.jpg"
  "$f/Scuola-Dante-2022_10_12-vel--8X_30741_jpg.rf.a0c64e3cd3938455525d8c4b51e17dac.jpg"
  "$f/Scuola-Dante-2022_10_12-vel--8X_27552_jpg.rf.2f15ce738f1d01a6ca469a2f11e5c7c7.jpg"
  "$f/Scuola-Dante-2022_10_12-vel--8X_23781_jpg.rf.2fc383086742f6b345727c68bce8cd6d.jpg"
  "$f/Scuola-Dante-2022_10_12-vel--8X_17981_jpg.rf.b711dc24b1d03423c58329c8ff43a8e3.jpg"
  "$f/Scuola-Dante-2022_10_12-vel--8X_24941_jpg.rf.48c9f57aeddabe98d18841327b398b92.jpg"
  "$f/Scuola-Dante-2022_10_12-vel--8X_30741_jpg.rf.a0c64e3cd3938455525d8c4b51e17dac.jpg"
  "$e/ScuolaDante_IP360-2022_10_16-X10_6091_jpg.rf.0f8c3a49e49644d039830665de3fa091.jpg"
  "$e/ScuolaDante_IP360-2022_10_16-X10_5511_jpg.rf.b107cbad642802f1c0e163be664022a6.jpg"
  "$e/ScuolaDante_IP360-2022_10_18-10X_2902_jpg.rf.72d456807b89d67f39e3c7faba483980.jpg"
  "$e/ScuolaDante_IP360-2022_10_16-X10_5801_jpg.rf.c06b852c21954077d32da11491f60e56.jpg"
  "$e/ScuolaDante_IP360-2022_10_16-X10_2611---Copia_jpg.rf.5622963a4ab6916697d61571c5fb84f6.jpg"
)
rm -rf "$demo"
mkdir -p "$demo/replay"
i=0
for fr in "${frames[@]}"; do
  cp "$pool/$fr" "$demo/replay/$(printf '%03d' "$i").jpg"
  i=$((i + 1))
done
umask 077
printf 'whsec_%s\n' "$(head -c 32 /dev/urandom | base64 | tr -d '\n')" > "$demo/webhook.secret"

"$bin" receive --listen 127.0.0.1:8088 --secret-file "$demo/webhook.secret" --store "$demo/orders.jsonl" &
receiver=$!
trap 'kill "$receiver" 2>/dev/null || true; wait "$receiver" 2>/dev/null || true' EXIT
sleep 0.5
"$bin" run --config "$top/calibration/demo.toml" --exit-when-done
echo "demo: $(wc -l < "$demo/orders.jsonl") work order(s) received, stored in $demo/orders.jsonl"
