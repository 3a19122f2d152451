"""How the HTML report scales: its size per image, build time, and load time in headless Chromium.

For each size N (default 100 and 1,000 images) a ``glas explain`` output is written the way the
data-set job writes it (``manifest.parquet`` + one ``.npz`` of float16 maps per image): 32 x 32
photos, 2 classes x 2 sigmas per image, maps from ``glas_core.explain`` (grid 8) with a NumPy
scoring function, no framework. Then ``glas_adapters.report.build_report`` writes the report
(pictures beside the HTML) and Debian's headless Chromium opens it ``--repeats`` times; printed
side by side, from one run:

* bytes per image (HTML and pictures), build seconds;
* *ready*: navigation start to the index drawn and interactive (the page's script done);
* *load*: navigation start to the load event (thumbnails are lazy, so this is not all of them);
* *view*: one image's view opened (its photo and maps decoded), from the click.

    python benchmarks/report_load.py             # 100 and 1,000 images (docs/benchmarks.md)
    python benchmarks/report_load.py --quick     # 10 and 40 images, one load each (CI's smoke run)

No torch. Chromium and chromedriver are Debian's (/usr/bin), driven by Selenium.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the browser helper of the report's tests

import glas_core  # noqa: E402

GOAL_SECONDS = 2.0
SIGMAS = ("5,3,6", "2")
N_CLASSES = 6


def score_fn(batch: np.ndarray) -> np.ndarray:
    """``(B, 3, H, W)`` -> ``(B, 6)``: softmax over the mean of each colour channel in two halves."""
    h = batch.shape[2] // 2
    parts = np.concatenate([batch[:, :, :h].mean(axis=(2, 3)), batch[:, :, h:].mean(axis=(2, 3))], axis=1)
    e = np.exp(6.0 * (parts - parts.max(axis=1, keepdims=True)))
    return e / e.sum(axis=1, keepdims=True)


def write_output(root: str, n: int, size: int = 32, seed: int = 0) -> str:
    """A data-set job's output for ``n`` random blob photos; returns the maps folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = os.path.join(root, "maps")
    os.makedirs(os.path.join(out, "maps"), exist_ok=True)
    os.makedirs(os.path.join(root, "photos"), exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size]
    rows = []
    for k in range(n):
        cy, cx = rng.uniform(4, size - 4, 2)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 4.0 ** 2))
        image = np.clip(0.3 + 0.1 * rng.random((size, size, 3)) + blob[..., None] * rng.random(3), 0, 1)
        path = os.path.join(root, "photos", f"img{k:05d}.png")
        Image.fromarray(np.round(image * 255).astype(np.uint8)).save(path)
        x = np.moveaxis(image, -1, 0)
        probs = score_fn(x[None])[0]
        targets = [int(t) for t in np.argsort(-probs)[:2]]
        arrays = {}
        for sigma in SIGMAS:
            values = tuple(float(v) for v in sigma.split(","))
            res = glas_core.explain(lambda b, targets=targets: score_fn(b)[:, targets], x, grid=8,
                                    sigma=values[0] if len(values) == 1 else values)
            for j, t in enumerate(targets):
                key = f"t{t}_s{sigma}"
                arrays[key] = res.to_numpy()[j].astype(np.float16)
                rows.append({"image_id": f"img{k:05d}", "path": path, "target": t, "class_name": f"class {t}",
                             "clean_score": float(probs[t]), "sigma": sigma, "grid": 8, "mode": "fusion",
                             "n_forward": res.n_forward, "map_file": f"maps/img{k:05d}.npz", "map_key": key,
                             "height": size, "width": size, "label": int(k % N_CLASSES), "iteration": None})
        np.savez_compressed(os.path.join(out, "maps", f"img{k:05d}.npz"), **arrays)
    schema = pa.schema([("image_id", pa.string()), ("path", pa.string()), ("target", pa.int64()),
                        ("class_name", pa.string()), ("clean_score", pa.float64()), ("sigma", pa.string()),
                        ("grid", pa.int64()), ("mode", pa.string()), ("n_forward", pa.int64()),
                        ("map_file", pa.string()), ("map_key", pa.string()), ("height", pa.int64()),
                        ("width", pa.int64()), ("label", pa.int64()), ("iteration", pa.int64())])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), os.path.join(out, "manifest.parquet"))
    return out


def measure_load(driver, html: str, repeats: int) -> tuple[float, float, float]:
    """Median seconds to ready, to the load event, and to open one image's view."""
    from tests.report import browser

    ready, load, view = [], [], []
    for _ in range(repeats):
        driver.get("about:blank")
        browser.open_page(driver, html, timeout=60)
        ready.append(float(driver.execute_script("return document.body.dataset.ready")) / 1000)
        load.append(driver.execute_script(
            "return new Promise(r => { const f = () => { const e = performance.getEntriesByType('navigation')[0];"
            " if (e && e.loadEventEnd > 0) r(e.loadEventEnd / 1000); else setTimeout(f, 20); }; f(); })"))
        view.append(driver.execute_script(
            "const t0 = performance.now(); location.hash = 'image=' + Math.floor(arguments[0] / 2);"
            "return new Promise(r => { const f = () => { const imgs = [...document.querySelectorAll('#view img')];"
            " if (!document.getElementById('view').hidden && imgs.length"
            " && imgs.every(i => i.complete && i.naturalWidth))"
            " r((performance.now() - t0) / 1000); else requestAnimationFrame(f); }; f(); })",
            len(driver.execute_script("return JSON.parse(document.getElementById('glas-data').textContent).images"))))
    return statistics.median(ready), statistics.median(load), statistics.median(view)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 and 40 images, one load each")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="numbers of images (default 100 1000)")
    parser.add_argument("--repeats", type=int, default=None, help="page loads per size (default 5)")
    parser.add_argument("--workdir", default=None,
                        help="where the outputs and reports go (default: a temporary folder)")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([10, 40] if args.quick else [100, 1000])
    repeats = args.repeats or (1 if args.quick else 5)

    from glas_adapters.report import build_report
    from tests.report import browser

    reason = browser.missing()
    if reason:
        raise SystemExit(f"report_load: {reason}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="glas-report-bench-", dir=args.workdir) as tmp:
        driver = browser.start(os.path.join(tmp, "profile"))
        try:
            warm = build_report(write_output(os.path.join(tmp, "warm"), 5), os.path.join(tmp, "warm", "r.html"))
            measure_load(driver, warm.path, 1)  # the browser's first page is slow: not counted
            for n in sizes:
                root = os.path.join(tmp, f"n{n}")
                t0 = time.perf_counter()
                maps = write_output(root, n)
                t1 = time.perf_counter()
                summary = build_report(maps, os.path.join(root, "report.html"))
                built = time.perf_counter() - t1
                ready, load, view = measure_load(driver, summary.path, repeats)
                rows.append((n, summary, t1 - t0, built, ready, load, view))
        finally:
            driver.quit()
    lines = [f"Report load, headless Chromium ({repeats} loads per size, medians); "
             f"{len(SIGMAS)} sigmas x 2 classes per image, 32 x 32 photos, pictures beside the HTML.", "",
             "| images | HTML kB | pictures kB | kB per image | build s | ready s | load s | view s |",
             "|---|---|---|---|---|---|---|---|"]
    for n, s, _, built, ready, load, view in rows:
        lines.append(f"| {n} | {s.html_bytes / 1024:.0f} | {s.asset_bytes / 1024:.0f} | {s.bytes_per_image / 1024:.1f} "
                     f"| {built:.1f} | {ready:.3f} | {load:.3f} | {view:.3f} |")
    (n0, *_, r0, _, _), (n1, *_, r1, l1, _) = rows[0], rows[-1]
    lines += ["", f"ready time x{r1 / r0:.2f} for x{n1 / n0:.0f} images; "
              f"{n1} images ready in {r1:.2f} s, load event at {l1:.2f} s: "
              + ("goal (< 2 s) met" if max(r1, l1) < GOAL_SECONDS else f"goal (< {GOAL_SECONDS:g} s) NOT met")]
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
