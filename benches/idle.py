#!/usr/bin/env python3
"""The idle daemon's own cost (issue 6): `binwatch run` with 4 bins and one frame every 10 s from a replay
folder of workload B's frames; time from start to sd_notify READY=1, then CPU (% of one core) and RSS of
the process, sampled every 30 s over the measured window (10 minutes by default).

    python3 benches/idle.py --bin target/release/binwatch --model models/bin-fill.onnx \
        --workload target/bench/b.json [--seconds 600] [--interval 10] [--frames 40] [--work DIR]

Standard library only. The daemon gets a NOTIFY_SOCKET this script listens on, so READY is the daemon's own
word, as systemd would see it. The first 30 s (the first frames, the model warm) are not counted.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--workload", required=True, help="workload B's JSON (benches/workloads.py)")
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--interval", type=float, default=10)
    ap.add_argument("--frames", type=int, default=40, help="frames of the workload in the replay folder")
    ap.add_argument("--sample", type=float, default=30, help="seconds between samples")
    ap.add_argument("--work", help="working directory (default: a fresh temporary one)")
    a = ap.parse_args()

    wl = json.load(open(a.workload))
    base = os.path.dirname(os.path.abspath(a.workload))
    work = a.work or tempfile.mkdtemp(prefix="binwatch-idle-")
    replay = os.path.join(work, "replay")
    shutil.rmtree(replay, ignore_errors=True)
    shutil.rmtree(os.path.join(work, "state"), ignore_errors=True)
    os.makedirs(replay)
    frames = wl["frames"][: a.frames]
    for i, f in enumerate(frames):
        shutil.copy(os.path.join(base, f["file"]), os.path.join(replay, f"{i:03d}.jpg"))
    lines = [
        'state_dir = "state"',
        "",
        "[model]",
        f"path = {json.dumps(os.path.abspath(a.model))}",
        "",
        "[daemon]",
        'metrics_listen = "127.0.0.1:0"',
        "",
        "[[cameras]]",
        'name = "pole"',
        f"interval_s = {a.interval}",
        'source = { kind = "folder", path = "replay", loop = true }',
    ]
    for b in frames[0]["bins"]:
        lines += ["", "[[bins]]", f'id = "{b["id"]}"', 'camera = "pole"', f"region = {json.dumps(b['region'])}",
                  "margin = 0.0"]
    cfg = os.path.join(work, "idle.toml")
    open(cfg, "w").write("\n".join(lines) + "\n")

    sock_path = os.path.join(work, "notify.sock")
    if os.path.exists(sock_path):
        os.remove(sock_path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    s.settimeout(60)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, BINWATCH_LOG="info")
    log = open(os.path.join(work, "daemon.log"), "w")
    t0 = time.monotonic()
    p = subprocess.Popen([os.path.abspath(a.bin), "run", "--config", cfg], env=env, stdout=log, stderr=log,
                         cwd=work)
    try:
        while True:
            msg = s.recv(4096).decode()
            if "READY=1" in msg:
                ready = time.monotonic() - t0
                break
        tick = os.sysconf("SC_CLK_TCK")

        def cpu():
            f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / tick

        def mem():
            d = dict(line.split(":", 1) for line in open(f"/proc/{p.pid}/status"))
            return int(d["VmRSS"].split()[0]) // 1024, int(d["VmHWM"].split()[0]) // 1024

        print(f"model {os.path.basename(a.model)}; {len(frames[0]['bins'])} bins; one frame every {a.interval:g} s; "
              f"{a.seconds:g} s measured; work dir {work}")
        print(f"start-up to READY=1: {ready:.3f} s", flush=True)
        time.sleep(30)
        c0, w0 = cpu(), time.monotonic()
        rss = []
        while time.monotonic() - w0 < a.seconds - 1e-6:
            time.sleep(min(a.sample, a.seconds - (time.monotonic() - w0)))
            if p.poll() is not None:
                sys.exit(f"idle: the daemon exited ({p.returncode}); see {work}/daemon.log")
            el, c = time.monotonic() - w0, cpu() - c0
            r, hwm = mem()
            rss.append(r)
            print(f"{el:5.0f} s: CPU {c:.2f} s ({100 * c / el:.2f} % of a core), RSS {r} MB, peak {hwm} MB", flush=True)
        el, c = time.monotonic() - w0, cpu() - c0
        r, hwm = mem()
        print(f"idle: {100 * c / el:.2f} % of a core over {el:.0f} s; RSS mean {sum(rss) / len(rss):.0f} MB, "
              f"last {r} MB, peak {hwm} MB; start-up to READY {ready:.2f} s")
    finally:
        p.terminate()
        p.wait()


if __name__ == "__main__":
    main()
