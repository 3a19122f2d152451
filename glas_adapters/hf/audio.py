"""HuggingFace audio classifiers (Wav2Vec2, HuBERT, AST, ...) explained over a waveform's samples.

GLAS masks the raw waveform ``(L,)`` with 1-D Gaussians over its samples (paper Eq. 1-2 with
one spatial axis: a light keeps a stretch of sound and silences the rest, a shadow silences
that stretch). The model's feature extractor is then rerun on EVERY masked waveform, batched,
before the model (:meth:`HFAudioClassifier.model_inputs`): its steps are not linear in the
samples (Wav2Vec2 and HuBERT scale each waveform to zero mean and unit variance, AST takes a
log-mel filterbank), so masking its output would be another perturbation than the paper's.
The maps are ``(n_targets, L)``, one value per sample of the waveform given.

A waveform must come at the feature extractor's sampling rate: another rate is refused, with
the resampling call in the message, not resampled here (the map is over the caller's samples,
and the choice of resampling filter is the caller's).

>>> clf = HFAudioClassifier(model, feature_extractor)                        # doctest: +SKIP
>>> exp = clf.explain(waveform, sampling_rate=16000, targets=[2, 5])          # doctest: +SKIP
>>> exp.maps.shape                                                           # (2, L)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import glas_core
from glas_core.config import config_from
from glas_core.errors import GLASError, fail, quoted

from .. import _engine
from .._common import ProgressFn
from ..torch.model_state import model_state_kept
from .pixels import model_device_dtype


def feature_extractor_of(processor: Any) -> Any:
    """The feature extractor inside a processor, checked to say its sampling rate."""
    inner = getattr(processor, "feature_extractor", None) or processor
    rate = getattr(inner, "sampling_rate", None)
    if not callable(inner) or isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
        raise fail("feature_extractor", type(processor).__name__,
                   "a HuggingFace audio feature extractor or processor (with a sampling_rate)",
                   "pass AutoFeatureExtractor.from_pretrained(<the model's name>)")
    return inner


def resample_hint(received: int, expected: int) -> str:
    """The exact polyphase resampling call from one rate to another (``scipy.signal.resample_poly``)."""
    g = math.gcd(int(received), int(expected))
    return (f"resample it first, e.g. scipy.signal.resample_poly(waveform, {expected // g}, {received // g}) "
            f"({received} Hz -> {expected} Hz)")


def checked_waveform(waveform: Any, sampling_rate: Any, expected_rate: int) -> np.ndarray:
    """One mono waveform as a float32 ``(L,)`` array at ``expected_rate``, refused with the fix otherwise."""
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, np.integer)) or sampling_rate <= 0:
        raise fail("sampling_rate", quoted(sampling_rate), "the waveform's sampling rate in Hz (a positive int)",
                   f"pass e.g. sampling_rate={expected_rate}")
    if int(sampling_rate) != expected_rate:
        raise fail("sampling_rate", f"{int(sampling_rate)} Hz", f"the feature extractor's {expected_rate} Hz",
                   resample_hint(int(sampling_rate), expected_rate))
    if isinstance(waveform, torch.Tensor):
        waveform = waveform.detach().cpu().numpy()
    if not isinstance(waveform, np.ndarray):
        raise fail("waveform", type(waveform).__name__, "a 1-D numpy array or torch tensor of samples",
                   "pass the decoded samples, e.g. soundfile.read(path)[0]")
    if waveform.ndim == 2 and 1 in waveform.shape:
        waveform = waveform.reshape(-1)
    if waveform.ndim != 1:
        fix = ("mix the channels to mono, e.g. waveform.mean(axis=0) for (channels, samples)"
               if waveform.ndim == 2 else "pass one waveform of shape (samples,)")
        raise fail("waveform", f"an array of shape {waveform.shape}", "one mono waveform of shape (samples,)", fix)
    if not np.issubdtype(waveform.dtype, np.floating):
        raise fail("waveform", f"an array of dtype {waveform.dtype}", "float samples (e.g. in [-1, 1])",
                   "convert integer PCM, e.g. waveform / 32768.0 for int16")
    if waveform.shape[0] < 2 or not np.all(np.isfinite(waveform)):
        raise fail("waveform", f"{waveform.shape[0]} samples" if waveform.shape[0] < 2 else "samples with NaN or inf",
                   "at least 2 finite samples", "pass the decoded audio")
    return waveform.astype(np.float32)


class HFAudioClassifier:
    """An ``AutoModelForAudioClassification`` and its feature extractor, scored on raw waveforms.

    Parameters
    ----------
    model : transformers audio classification model
        Wav2Vec2ForSequenceClassification, HubertForSequenceClassification,
        ASTForAudioClassification, ... (returns ``.logits``).
    feature_extractor : transformers feature extractor or processor
        The model's own (``AutoFeatureExtractor.from_pretrained`` of the same name); rerun on
        every masked waveform.
    """

    def __init__(self, model: Any, feature_extractor: Any) -> None:
        self.model = model
        self.extractor = feature_extractor_of(feature_extractor)
        self.sampling_rate = int(self.extractor.sampling_rate)

    def model_inputs(self, waveforms: np.ndarray) -> dict[str, torch.Tensor]:
        """The model's inputs of a ``(B, L)`` batch of waveforms: the feature extractor run on each one."""
        device, dtype = model_device_dtype(self.model)
        rows = [np.asarray(w, dtype=np.float32) for w in np.asarray(waveforms)]
        features = self.extractor(rows, sampling_rate=self.sampling_rate, return_tensors="pt")
        return {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device))
                for k, v in features.items() if isinstance(v, torch.Tensor)}

    def logits(self, waveforms: np.ndarray) -> torch.Tensor:
        """``(B, K)`` logits of a ``(B, L)`` batch of waveforms (no gradients)."""
        with torch.no_grad():
            out = self.model(**self.model_inputs(waveforms))
        return out.logits if hasattr(out, "logits") else out

    def label(self, index: int) -> str:
        """The model's name of a class (``config.id2label``), or its index."""
        names = getattr(getattr(self.model, "config", None), "id2label", None) or {}
        return str(names.get(index, names.get(str(index), index)))

    def _clean_logits(self, waveform: np.ndarray) -> torch.Tensor:
        try:
            return self.logits(waveform[None]).float()
        except GLASError:
            raise
        except (RuntimeError, ValueError, IndexError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise fail("waveform", f"{waveform.shape[0]} samples the model cannot take ({type(error).__name__}: "
                       f"{first[:160]})", "a waveform the model and its feature extractor take",
                       "pass a longer clip (a convolutional front end needs at least its receptive field), "
                       "and the feature extractor saved with the model") from error

    def probabilities(self, waveform: Any, sampling_rate: int) -> np.ndarray:
        """``(K,)`` softmax probabilities of one waveform (checked as :meth:`explain` checks it)."""
        wave = checked_waveform(waveform, sampling_rate, self.sampling_rate)
        return torch.softmax(self._clean_logits(wave), dim=-1)[0].cpu().numpy()

    def explain(self, waveform: Any, targets: Any = None, *, sampling_rate: int,
                grid: int | Sequence[int] | None = None, sigma: Any = None, sigma_px: Any = None,
                mode: str | None = None, lam: float | None = None,
                baseline: Any = None, probabilities: Any = "softmax", batch_size: int | None = None,
                progress: bool | ProgressFn | None = None,
                config: glas_core.GLASConfig | None = None) -> AudioExplanation:
        """One map per target over the waveform's samples, every target from one GLAS sweep.

        Parameters
        ----------
        waveform : array
            ``(L,)`` mono float samples (a ``(1, L)`` array is read as mono).
        targets : int, list of int or None
            Classes to explain (one map each); None explains the predicted class.
        sampling_rate : int
            The waveform's rate in Hz; it must be the feature extractor's (refused otherwise,
            with the resampling call).
        grid, sigma, sigma_px, mode, lam, baseline, probabilities, batch_size, progress, config
            As in :func:`glas_core.explain` with one spatial axis (grid: points along the
            waveform; None: 15). ``baseline`` is what a masked sample fades to (None: 0, silence).

        Returns
        -------
        AudioExplanation
            ``maps`` of shape ``(n_targets, L)``.
        """
        wave = checked_waveform(waveform, sampling_rate, self.sampling_rate)
        settings = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                               batch_size=batch_size)
        probs = torch.softmax(self._clean_logits(wave), dim=-1)[0].cpu().numpy()
        if targets is None:
            chosen = [int(np.argmax(probs))]
        else:
            table = _engine.read_targets(targets, 1, single=True).table
            assert table is not None  # None is read above
            chosen = [int(c) for c in table[0]]
        request = _engine.read_targets([chosen], 1, single=False)
        result = _engine.explain(_AudioBackend(self, wave), request, probabilities=probabilities, config=settings,
                                 baseline=baseline, progress=progress, return_result=True)
        maps = np.asarray(glas_core.to_numpy(result.saliency), dtype=np.float64)
        return AudioExplanation(maps=maps, targets=chosen, labels=[self.label(c) for c in chosen],
                                probs=probs[chosen], waveform=wave, sampling_rate=self.sampling_rate,
                                result=result)


class _AudioBackend(_engine.Backend):
    """One waveform ``(1, L)`` for the orchestrator: masked rows go through the feature extractor and the model."""

    def __init__(self, classifier: HFAudioClassifier, waveform: np.ndarray) -> None:
        self.classifier = classifier
        self.waveform = waveform[None, :]
        self.n_examples = 1
        self.single = True
        self.spatial_axes = (-1,)
        self.spatial_shape = (int(waveform.shape[0]),)

    def example(self, i: int) -> np.ndarray:
        return self.waveform

    def outputs(self, batch: Any, owners: np.ndarray) -> np.ndarray:
        logits = self.classifier.logits(np.asarray(batch)[:, 0, :])
        return logits.float().cpu().numpy()

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        with model_state_kept(self.classifier.model), torch.no_grad():
            yield


@dataclass
class AudioExplanation:
    """One GLAS map per target over the samples of a waveform.

    Attributes
    ----------
    maps : numpy.ndarray
        ``(n_targets, L)`` saliency (each target's map up to one positive factor, see ``result.log_scale``).
    targets : list of int
        The explained classes.
    labels : list of str
        Their names (``config.id2label``).
    probs : numpy.ndarray
        ``(n_targets,)`` softmax probabilities of the targets on the clean waveform.
    waveform : numpy.ndarray
        ``(L,)`` the explained samples.
    sampling_rate : int
        Their rate in Hz.
    result : glas_core.GLASResult
        The raw sweep.
    """

    maps: np.ndarray
    targets: list[int]
    labels: list[str]
    probs: np.ndarray
    waveform: np.ndarray
    sampling_rate: int
    result: Any

    def plot(self, target: int = 0, *, cmap: str | None = None) -> Any:
        """The waveform over seconds with the ``target``-th explained class's map as a band below it
        (:func:`glas_core.viz.series`)."""
        from glas_core import viz

        if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not (
                0 <= target < len(self.targets)):
            raise fail("target", quoted(target), f"the position of an explained class in [0, {len(self.targets)})",
                       "pass e.g. target=0 for the first class in exp.targets")
        times = np.arange(self.waveform.shape[0]) / float(self.sampling_rate)
        style: dict[str, Any] = {"cmap": cmap} if cmap is not None else {}
        return viz.series(self.waveform, self.maps[target], times=times, xlabel="seconds",
                          title=f"{self.labels[target]}  {self.probs[target]:.1%}", **style)
