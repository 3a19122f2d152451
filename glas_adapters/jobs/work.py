"""One image of a job: read it, pick its targets, explain it, and lay out its maps and rows.

The same :class:`ImageExplainer` runs in the ``glas`` process and inside every Ray actor, so
both engines write the same files (equal up to the rounding of torch's thread count, see
``tests/adapters/ray/test_engine.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glas_adapters.jobs.figures import caption_figure, classifier_figures
from glas_adapters.jobs.image_io import load_image, rgb01
from glas_adapters.jobs.layout import MAPS_DIR, ImageOutput, npz_bytes, raw_arrays
from glas_adapters.jobs.sources import ImageItem
from glas_adapters.jobs.spec import JobSpec, sigma_text
from glas_adapters.jobs.targets import resolve_targets
from glas_core import to_numpy
from glas_core.config import DEFAULT_GRID
from glas_core.errors import GLASError, fail

#: The figure's dots per inch; figures are drawn from a copy at most this many pixels a side.
FIGURE_DPI = 110
FIGURE_MAX_SIDE = 640


@dataclass
class Explained:
    """An :class:`ImageOutput` plus what only the ``glas`` process uses (raw maps for ``--save-maps``,
    the image's forward passes: the prediction and every sweep's rows, and the runtime that ran
    them with its intra-op threads, for the summary line)."""

    output: ImageOutput
    raw: dict[str, np.ndarray] = field(default_factory=dict)
    n_forward: int = 0
    runtime: str | None = None
    threads: int | None = None


def peak_normalised(saliency: np.ndarray) -> np.ndarray:
    """A map divided by its largest absolute value (a zero map stays zero), in float64."""
    m = np.asarray(saliency, dtype=np.float64)
    peak = float(np.max(np.abs(m))) if m.size else 0.0
    if not np.isfinite(peak):
        raise fail("saliency", "a map with NaN or infinite values", "finite maps",
                   "check the model's outputs for NaN or inf")
    return m / peak if peak > 0 else np.zeros_like(m)


class ImageExplainer:
    """Explains images one at a time with one loaded model.

    Parameters
    ----------
    model : Classifier or Captioner
        What :func:`glas_adapters.jobs.models.loading.load_model` returns (or any object with its interface).
    spec : JobSpec
        The job's settings.
    """

    def __init__(self, model: Any, spec: JobSpec) -> None:
        self.model = model
        self.spec = spec

    def explain(self, item: ImageItem, progress: bool = False, pixels: Any = None) -> Explained:
        """Explain one image; every error is a :class:`GLASError` whose message names the image.

        ``pixels`` (an ``(H, W, 3)`` array, uint8 or float in [0, 1]) is used instead of reading
        ``item.path``.
        """
        try:
            if self.model.kind in ("audio", "video"):  # signal files: glas_adapters.jobs.signals
                from glas_adapters.jobs.signals import explain_signal

                output, raw, n_forward = explain_signal(self.model, self.spec, item, progress)
                return Explained(output, raw, n_forward, *self._runtime())
            if self.model.kind == "series":  # .npy series: glas_adapters.jobs.series
                from glas_adapters.jobs.series import explain_series

                output, raw, n_forward = explain_series(self, item, progress)
                return Explained(output, raw, n_forward, *self._runtime())
            image = load_image(item.path) if pixels is None else rgb01(pixels)
            if self.model.kind == "captioner":
                return self._caption(item, image, progress)
            if self.model.kind in ("detector", "segmenter"):
                return self._objects(item, image, progress)
            return self._classify(item, image, progress)
        except GLASError as exc:
            raise GLASError(f"{item.path}: {' '.join(str(exc).split())}") from None
        except (KeyboardInterrupt, SystemExit, ModuleNotFoundError):
            raise  # a missing package is the installation's fault, not the image's: it ends the job
        except Exception as exc:  # a model or decoder failure: name the image, keep the reason
            reason = " ".join(str(exc).split())[:300] or "no message"
            raise GLASError(f"{item.path}: {type(exc).__name__}: {reason}") from None

    def _classify(self, item: ImageItem, image: np.ndarray, progress: bool) -> Explained:
        model, spec = self.model, self.spec
        x = model.prepare(image)
        probs = model.probabilities(x)
        targets = self._targets(item, probs)
        results = model.explain(x, targets, spec.settings(progress))
        rows, maps = self.maps_and_rows(item, targets, probs, results)
        figures = self._figures(item, image, x, results, targets, probs) if spec.figures else {}
        raw = raw_arrays(results, targets, probs, model, spec.recursive) if spec.keep_raw else {}
        n_forward = 1 + sum(int(r.n_forward) for r in results)  # the prediction, then the sweeps
        return Explained(ImageOutput(item.image_id, rows, npz_bytes(maps), figures), raw, n_forward,
                         *self._runtime())

    def maps_and_rows(self, item: ImageItem, targets: list[int], probs: np.ndarray, results: list[Any]
                       ) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
        """A classifier's peak-normalised maps by key and their manifest rows: per target and scale, or
        per target the accumulated map and every iteration's (recursive)."""
        model, spec = self.model, self.spec
        rows: list[dict[str, Any]] = []
        maps: dict[str, np.ndarray] = {}
        if spec.recursive:
            res, sigma = results[0], sigma_text(spec.sigmas[0])
            accumulated = res.to_numpy()
            for ti, t in enumerate(targets):
                common = self._common(item, t, model.label(t), float(probs[t]), sigma, res.n_forward)
                key = f"target{t}_sigma{sigma}"
                maps[key] = peak_normalised(accumulated[ti])
                rows.append(self._row(common, key, maps[key], None))
                for i, it in enumerate(res.iterations[ti], start=1):
                    maps[f"{key}_iter{i}"] = peak_normalised(to_numpy(it.saliency))
                    rows.append(self._row(common, f"{key}_iter{i}", maps[f"{key}_iter{i}"], i))
        else:
            for sigma, res in zip(spec.sigmas, results):
                arr = res.to_numpy()
                for ti, t in enumerate(targets):
                    text = sigma_text(sigma)
                    key = f"target{t}_sigma{text}"
                    maps[key] = peak_normalised(arr[ti])
                    common = self._common(item, t, model.label(t), float(probs[t]), text, res.n_forward)
                    rows.append(self._row(common, key, maps[key], None))
        return rows, maps

    def _caption(self, item: ImageItem, image: np.ndarray, progress: bool) -> Explained:
        spec = self.spec
        exp = self.model.explain(image, spec.settings(progress))
        sigma = sigma_text(spec.sigmas[0])
        rows, maps = [], {}
        for i, word in enumerate(exp.words):
            key = f"word{i}_sigma{sigma}"
            maps[key] = peak_normalised(exp.maps[i])
            rows.append(self._row(self._common(item, i, word, float(exp.word_probs[i]), sigma, exp.result.n_forward),
                                  key, maps[key], None))
        figures = {}
        if spec.figures:
            figures = {f"{item.image_id}.png": caption_figure(exp, FIGURE_MAX_SIDE, FIGURE_DPI)}
        raw = {}
        if spec.keep_raw:
            raw = {"saliency": np.asarray(exp.maps, dtype=np.float32), "labels": np.asarray(exp.words),
                   "scores": np.asarray(exp.word_probs, dtype=np.float64)}
        return Explained(ImageOutput(item.image_id, rows, npz_bytes(maps), figures), raw, int(exp.result.n_forward),
                         *self._runtime())

    def _objects(self, item: ImageItem, image: np.ndarray, progress: bool) -> Explained:
        """A detector's detections or a segmenter's regions, one map and one row each (:mod:`.objects`)."""
        from glas_adapters.jobs.objects import object_figure, object_output

        spec = self.spec
        exp = self.model.explain(image, spec.settings(progress))
        output, raw = object_output(item.image_id, exp, self.model, spec.sigmas[0], self._object_common(item),
                                    peak_normalised)
        if spec.figures:
            output.figures = {f"{item.image_id}.png": object_figure(image, exp, self.model, item.relpath, spec.mode,
                                                                    max_side=FIGURE_MAX_SIDE, dpi=FIGURE_DPI)}
        return Explained(output, raw if spec.keep_raw else {}, int(exp.passes), *self._runtime())

    def _object_common(self, item: ImageItem) -> Any:
        return lambda t, name, score, sigma, n: self._common(item, t, name, score, sigma, n)

    def _runtime(self) -> tuple[str | None, int | None]:
        """What ran the model's forward passes, and its intra-op threads (None: unknown)."""
        threads = getattr(self.model, "threads", None)
        return getattr(self.model, "runtime", None), threads() if callable(threads) else None

    def _targets(self, item: ImageItem, probs: np.ndarray) -> list[int]:
        n = int(probs.shape[0])
        if item.targets is not None:
            bad = [t for t in item.targets if t >= n]
            if bad:
                raise fail("target", bad[0], f"a class index in [0, {n}) for this model's {n} outputs",
                           "fix the row of this image in --targets-csv")
            return list(item.targets)
        return resolve_targets(self.spec.targets, self.spec.top_k, probs, self.model)

    def _common(self, item: ImageItem, target: int, name: str, score: float, sigma: str, n_forward: int
                ) -> dict[str, Any]:
        grid = self.spec.grid
        return {"image_id": item.image_id, "path": item.path, "target": int(target), "class_name": str(name),
                "clean_score": score, "sigma": sigma, "grid": int(grid if grid is not None else DEFAULT_GRID),
                "mode": self.spec.mode, "n_forward": int(n_forward), "map_file": f"{MAPS_DIR}/{item.image_id}.npz",
                "label": item.label, "runtime": getattr(self.model, "runtime", None)}

    @staticmethod
    def _row(common: dict[str, Any], key: str, saliency: np.ndarray, iteration: int | None) -> dict[str, Any]:
        height, width = (1, saliency.shape[0]) if saliency.ndim == 1 else saliency.shape[:2]  # a series: 1 x T
        return {**common, "map_key": key, "height": int(height), "width": int(width), "iteration": iteration}

    def _figures(self, item: ImageItem, image: np.ndarray, x: Any, results: list[Any], targets: list[int],
                 probs: np.ndarray) -> dict[str, bytes]:
        shown = image if self.model.plain_resize else self.model.display(x)
        pngs = classifier_figures(shown, results, targets, probs, self.model, self.spec.sigmas, self.spec.mode,
                                  self.spec.recursive, item.relpath, max_side=FIGURE_MAX_SIDE, dpi=FIGURE_DPI)
        return {f"{item.image_id}{suffix}.png": png for suffix, png in pngs}
