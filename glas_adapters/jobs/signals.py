"""Signals in a job: audio files and ``.npy`` arrays explained by HuggingFace audio and video classifiers.

Inputs (found like images, see :mod:`~glas_adapters.jobs.sources`):

* ``.wav`` and ``.flac`` files, read with ``soundfile`` (which reads both, with their sampling
  rate); without it, ``.wav`` files are read with ``scipy.io.wavfile`` and integer PCM is scaled
  to [-1, 1]. The sampling rate must be the feature extractor's (another rate is refused, naming
  the resampling call), and the audio must be mono.
* ``.npy`` arrays (``numpy.load`` with ``allow_pickle=False``): a ``(T, H, W, 3)`` clip for a
  video classifier, uint8 (or uint8 / 255 as floats in [0, 1]). A ``.npy`` waveform carries no
  sampling rate, so an audio classifier refuses it (save it as ``.wav`` or ``.flac``).

Each file gets one map per target, all from one sweep: ``(L,)`` over the samples of a waveform,
``(T, H, W)`` over the clip's own frames. Manifest rows carry ``height`` 1 and
``width`` L for a waveform, and the frame size for a clip (the frame count is the map's first
axis in the ``.npz``). Figures (``--figures``): one PNG per target, the waveform over seconds
with the map as a band below it, or the clip's frames with the map over them.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from glas_adapters.jobs.figures import series_figure, video_figure
from glas_adapters.jobs.layout import MAPS_DIR, ImageOutput, npz_bytes
from glas_adapters.jobs.sources import SIGNAL_SUFFIXES, ImageItem
from glas_adapters.jobs.spec import JobSpec, sigma_text
from glas_adapters.jobs.targets import resolve_targets
from glas_core.config import DEFAULT_GRID
from glas_core.errors import fail

AUDIO_SUFFIXES = (".wav", ".flac")
#: Model kinds explained here rather than as images.
SIGNAL_KINDS = ("audio", "video")


def read_signal(path: str) -> tuple[np.ndarray, int | None]:
    """The samples of a signal file and its sampling rate (None for ``.npy``).

    Audio comes back float32, ``(L,)`` for mono and ``(channels, L)`` otherwise.
    """
    lower = path.lower()
    if lower.endswith(".npy"):
        try:
            return np.load(path, allow_pickle=False), None
        except (OSError, ValueError) as exc:
            raise fail("IMAGE", f"{path!r}, which numpy cannot read as an array ({' '.join(str(exc).split())[:120]})",
                       "a .npy file written by numpy.save (no pickled objects)", "save it with np.save(path, array)"
                       ) from None
    if not lower.endswith(AUDIO_SUFFIXES):
        raise fail("IMAGE", f"{path!r}", f"a signal file ({', '.join(SIGNAL_SUFFIXES)})", "convert it first")
    try:
        import soundfile
    except ImportError:
        if lower.endswith(".flac"):
            raise fail("IMAGE", f"the FLAC file {path!r} without the soundfile package", "soundfile installed",
                       "pip install soundfile (or convert the file to .wav)") from None
        return _read_wav_scipy(path)
    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise fail("IMAGE", f"{path!r}, which cannot be decoded ({' '.join(str(exc).split())[:120]})",
                   "a readable .wav or .flac file", "check the file") from None
    return _channels_first(samples), int(rate)


def _read_wav_scipy(path: str) -> tuple[np.ndarray, int]:
    """A WAV file with ``scipy.io.wavfile``, integer PCM scaled to [-1, 1] as soundfile does."""
    from scipy.io import wavfile

    try:
        rate, data = wavfile.read(path)
    except (OSError, ValueError) as exc:
        raise fail("IMAGE", f"{path!r}, which cannot be decoded ({' '.join(str(exc).split())[:120]})",
                   "a readable .wav file", "check the file") from None
    if data.dtype == np.uint8:
        samples = (data.astype(np.float32) - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        samples = data.astype(np.float32) / float(-np.iinfo(data.dtype).min)
    else:
        samples = data.astype(np.float32)
    return _channels_first(samples.reshape(len(samples), -1)), int(rate)


def _channels_first(samples: np.ndarray) -> np.ndarray:
    """``(L, channels)`` as ``(L,)`` for mono, else ``(channels, L)``."""
    return samples[:, 0].copy() if samples.shape[1] == 1 else np.ascontiguousarray(samples.T)


def _check_settings(spec: JobSpec) -> None:
    if len(spec.sigmas) != 1 or spec.recursive:
        raise fail("--sigma/--recursive", f"{len(spec.sigmas)} --sigma values"
                   f"{' and --recursive' if spec.recursive else ''} with an audio or video classifier",
                   "one --sigma value and no --recursive for signals", "pass one --sigma value and no --recursive")


def explain_signal(model: Any, spec: JobSpec, item: ImageItem, progress: bool) -> tuple[ImageOutput,
                                                                                       dict[str, np.ndarray], int]:
    """One signal file explained: its output (rows, maps, figures), raw maps for ``--save-maps`` and passes."""
    _check_settings(spec)
    values, rate = read_signal(item.path)
    sigma = spec.sigmas[0]
    if model.kind == "audio":
        if rate is None:
            raise fail("IMAGE", "a .npy array for an audio classifier (it carries no sampling rate)",
                       "a .wav or .flac file", "save it with soundfile.write(path, waveform, sampling_rate)")
        probs = model.clf.probabilities(values, rate)
    elif model.kind == "video":
        if rate is not None:
            raise fail("IMAGE", "an audio file for a video classifier", "a .npy clip of shape (T, H, W, 3)",
                       "save the decoded frames with np.save(path, np.stack(frames))")
        probs = model.clf.probabilities(values)
    else:
        raise fail("--model", f"a {model.kind}", "an audio or video classifier for signal files",
                   "pass images to this model")
    targets = list(item.targets) if item.targets is not None else resolve_targets(spec.targets, spec.top_k, probs,
                                                                                   model)
    bad = [t for t in targets if not 0 <= t < len(probs)]
    if bad:
        raise fail("target", bad[0], f"a class index in [0, {len(probs)}) for this model's {len(probs)} outputs",
                   "fix the row of this file in --targets-csv")
    settings = dict(grid=spec.grid, sigma=sigma, mode=spec.mode, batch_size=spec.batch_size, progress=progress)
    if model.kind == "audio":
        exp = model.clf.explain(values, targets, sampling_rate=rate, **settings)
    else:
        exp = model.clf.explain(values, targets, **settings)
    text = sigma_text(sigma)
    rows, maps, figures = [], {}, {}
    n_forward = 1 + int(exp.result.n_forward)  # the probabilities, then the sweep
    for i, t in enumerate(targets):
        key = f"target{t}_sigma{text}"
        peak = float(np.max(np.abs(exp.maps[i])))
        maps[key] = exp.maps[i] / peak if peak > 0 else np.zeros_like(exp.maps[i])
        height, width = (1, exp.maps.shape[-1]) if model.kind == "audio" else exp.maps.shape[-2:]
        rows.append({"image_id": item.image_id, "path": item.path, "target": int(t), "class_name": model.label(t),
                     "clean_score": float(probs[t]), "sigma": text,
                     "grid": int(spec.grid if spec.grid is not None else DEFAULT_GRID), "mode": spec.mode,
                     "n_forward": n_forward, "map_file": f"{MAPS_DIR}/{item.image_id}.npz", "label": item.label,
                     "runtime": model.runtime, "map_key": key, "height": int(height), "width": int(width),
                     "iteration": None})
        if spec.figures:
            title = f"{os.path.basename(item.path)}: {model.label(t)}  {probs[t]:.1%}"
            png = (series_figure(exp.waveform, exp.maps[i], exp.sampling_rate, title) if model.kind == "audio"
                   else video_figure(exp.frames, exp.maps[i], title))
            figures[f"{item.image_id}_target{t}.png"] = png
    raw = {}
    if spec.keep_raw:
        raw = {"saliency": exp.maps.astype(np.float32), "targets": np.asarray(targets, dtype=np.int64),
               "labels": np.asarray([model.label(t) for t in targets]), "scores": probs[targets]}
    return ImageOutput(item.image_id, rows, npz_bytes(maps), figures), raw, n_forward
