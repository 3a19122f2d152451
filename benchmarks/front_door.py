"""The front door: ``glas demo`` and ``glas explain`` as a user runs them, PyTorch against ONNX Runtime.

Every run is a subprocess of the real command (``python -m glas_adapters.cli``) with a fresh
export cache (``GLAS_CACHE`` in a temporary folder) and ``OMP_NUM_THREADS`` set to ``--threads``
(torch's intra-op threads and, through the command's rule, ONNX Runtime's; the summary line
says what ran, and this script checks it). In order, each case torch first, then ONNX Runtime:

1. ``glas demo`` twice (the first ONNX run exports the model into the empty cache);
2. ``glas explain PHOTO --top-k 3 --sigma 5 3 1 --figures`` on scikit-image's chelsea (one photo);
3. the same on six scikit-image photos (chelsea, astronaut, coffee, rocket, cat,
   immunohistochemistry) in one run.

For each run: wall seconds (process start to exit, as a user waits), CPU seconds of the
process, the forward passes its summary line reports, rows/s (forward passes per wall second)
and the model's seconds, measured in the process by timing every forward call: each
``InferenceSession.run`` for ONNX Runtime, each outermost ``torch.nn.Module`` call for PyTorch
(the export's own PyTorch passes count as outside the model). Outside the model: wall minus the
model's seconds, as a share of wall. Goals: explain (one photo) <= 8 s wall, demo <= 8 s (the
first run with the export <= 20 s), outside the model <= 25 % of a one-photo run.

    python benchmarks/front_door.py                 # --threads = the machine's cores; a few minutes on 2 cores
    python benchmarks/front_door.py --threads 1     # one thread for both runtimes
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTOS = ("chelsea", "astronaut", "coffee", "rocket", "cat", "immunohistochemistry")
EXPLAIN_ARGS = ("--top-k", "3", "--sigma", "5", "3", "1", "--figures", "--quiet")
RUNTIMES = ("torch", "onnx")

# Runs the command in the child with its forward calls timed; the totals go to $GLAS_BENCH_TIMES.
CHILD = r"""
import atexit, json, os, sys, time
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # what the command sets before torch starts
runtime = os.environ["GLAS_BENCH_RUNTIME"]
totals = {"model_s": 0.0, "calls": 0}

def timed(call, outermost):
    depth = [0]
    def wrapper(*args, **kwargs):
        if outermost and depth[0]:
            return call(*args, **kwargs)
        depth[0] += 1
        start = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            depth[0] -= 1
            totals["model_s"] += time.perf_counter() - start
            totals["calls"] += 1
    return wrapper

if runtime == "onnx":
    import onnxruntime   # the command imports it too
    onnxruntime.InferenceSession.run = timed(onnxruntime.InferenceSession.run, False)
else:
    import torch   # the command imports it too
    torch.nn.Module.__call__ = timed(torch.nn.Module.__call__, True)

def save():
    with open(os.environ["GLAS_BENCH_TIMES"], "w") as handle:
        json.dump(totals, handle)

atexit.register(save)
from glas_adapters.cli import main
sys.exit(main(sys.argv[1:]))
"""


def machine() -> str:
    """CPU model (from /proc/cpuinfo), core count, load average and today's date."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model)
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return f"{model}, nproc {os.cpu_count()}, load average {load}, {time.strftime('%Y-%m-%d %H:%M')}"


def write_photos(folder: str) -> list[str]:
    """scikit-image's six RGB photos as JPEG files (quality 95), as a user's photos would be."""
    import numpy as np
    from PIL import Image
    from skimage import data

    os.makedirs(folder, exist_ok=True)
    paths = []
    for name in PHOTOS:
        path = os.path.join(folder, f"{name}.jpg")
        Image.fromarray(np.asarray(getattr(data, name)(), dtype=np.uint8)).convert("RGB").save(path, quality=95)
        paths.append(path)
    return paths


@dataclass
class Result:
    """One run of the command."""

    wall: float      # seconds from process start to exit
    cpu: float       # user + system seconds of the process
    passes: int      # forward passes (rows) its summary line reports
    model: float     # seconds in the model's forward calls, timed in the process
    ran: str         # runtime and threads, from the summary line
    exported: bool   # the run exported the model to ONNX

    @property
    def outside(self) -> float:
        """The share of wall time outside the model's forward calls."""
        return 1.0 - self.model / self.wall


def run(argv: list[str], runtime: str, env: dict[str, str], scratch: str) -> Result:
    """One subprocess of the command: wall and CPU seconds, its summary line, the model's seconds."""
    times = os.path.join(scratch, "times.json")
    child_env = dict(env, GLAS_BENCH_RUNTIME=runtime, GLAS_BENCH_TIMES=times)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, *argv, "--runtime", runtime], env=child_env, cwd=scratch,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    summary = proc.stdout.strip().splitlines()[-1]
    passes = re.search(r"\((\d+) forward (?:passes|rows)", summary)
    threads = re.search(r" on (PyTorch|ONNX Runtime) with (\d+) thread", summary)
    with open(times, encoding="utf-8") as handle:
        model = json.load(handle)
    return Result(wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
                  int(passes.group(1)) if passes else 0, float(model["model_s"]),
                  f"{threads.group(1)}, {threads.group(2)} thr" if threads else "?", "exported to ONNX" in summary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="OMP_NUM_THREADS of every run: both runtimes' intra-op threads (default: nproc)")
    args = parser.parse_args(argv)

    print(f"machine: {machine()}")
    print(f"threads: OMP_NUM_THREADS={args.threads} for both runtimes (checked against each summary line)")
    base = tempfile.mkdtemp(prefix="glas-front-door-")
    try:
        photos = write_photos(os.path.join(base, "photos"))
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), GLAS_CACHE=os.path.join(base, "cache"),
                   PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p),
                   MPLBACKEND="Agg")
        cases = [("demo, first run", lambda rt, i: ["demo", "--quiet", "--out", f"demo-{rt}-{i}.png"]),
                 ("demo, second run", lambda rt, i: ["demo", "--quiet", "--out", f"demo-{rt}-{i}.png"]),
                 ("explain, 1 photo", lambda rt, i: ["explain", photos[0], *EXPLAIN_ARGS, "--out", f"one-{rt}"]),
                 ("explain, 6 photos", lambda rt, i: ["explain", os.path.join(base, "photos"), *EXPLAIN_ARGS,
                                                      "--out", f"six-{rt}"])]
        results: dict[tuple[str, str], Result] = {}
        header = (f"{'run':<18} {'runtime':<20} {'wall s':>7} {'cpu s':>6} {'passes':>6} {'rows/s':>7} "
                  f"{'model s':>8} {'outside':>8}")
        print(header)
        print("-" * len(header))
        for i, (name, command) in enumerate(cases):
            for runtime in RUNTIMES:
                r = results[(name, runtime)] = run(command(runtime, i), runtime, env, base)
                note = "  (exported to ONNX)" if r.exported else ""
                print(f"{name:<18} {r.ran:<20} {r.wall:7.1f} {r.cpu:6.1f} {r.passes:6d} {r.passes / r.wall:7.1f} "
                      f"{r.model:8.1f} {r.outside:8.0%}{note}", flush=True)
                if not r.ran.endswith(f", {args.threads} thr"):
                    print(f"  warning: the run says {r.ran!r}, not {args.threads} threads")
        print()
        for name, _ in cases:
            t, o = results[(name, "torch")], results[(name, "onnx")]
            print(f"{name}: ONNX Runtime {t.wall / o.wall:.2f}x faster in wall time, "
                  f"{t.model / max(o.model, 1e-9):.2f}x in model time")
        first, demo = results[("demo, first run", "onnx")], results[("demo, second run", "onnx")]
        one = results[("explain, 1 photo", "onnx")]
        print()
        print("goals (ONNX Runtime):")
        print(f"  explain, 1 photo <= 8 s wall: {one.wall:.1f} s -> {_verdict(one.wall <= 8)}")
        print(f"  demo <= 8 s wall: {demo.wall:.1f} s -> {_verdict(demo.wall <= 8)}")
        print(f"  demo with the export <= 20 s: {first.wall:.1f} s -> {_verdict(first.wall <= 20)}")
        print(f"  outside the model <= 25 % of a one-photo run: {one.outside:.0%} -> {_verdict(one.outside <= 0.25)}")
        print(f"machine at the end: {machine()}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


if __name__ == "__main__":
    sys.exit(main())
