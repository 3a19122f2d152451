"""GLAS for HuggingFace models: every word of an image caption, and image classifiers.

Captions (paper Section 4, Figure 11): the score of caption word ``w_t`` under a perturbed
image is its teacher-forced likelihood ``P(w_t | I * M, w_<t)``. One forward pass of a batch of
perturbed images scores every word at once, so :class:`CaptionExplainer` explains the whole
caption with one GLAS sweep of ``2 k^2 + 1`` image passes (grid ``k``), not one sweep per word.

Perturbation happens on the processor's resized pixels in [0, 1] (``do_normalize=False``);
the processor's mean/std normalisation is applied after masking, so a shadow is darkness,
not the dataset mean colour.

Example
-------
>>> from glas_adapters.hf import CaptionExplainer                       # doctest: +SKIP
>>> exp = CaptionExplainer(model, processor).explain(image)             # doctest: +SKIP
>>> exp.words, exp.maps.shape                                           # doctest: +SKIP
(['a', 'cat', 'on', 'a', 'sofa'], (5, 384, 384))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

import glas_core

from ._hf_families import CUSTOM_HINT, CaptionTokens, Family, TokenLogprobs, detect_family
from ._hf_pixels import PixelSpace, error, model_device_dtype, pixels_01, split_processor
from ._hf_words import Word, group_words, word_matrix

__all__ = ["CaptionExplainer", "CaptionExplanation", "CaptionScorer", "HFImageClassifier", "group_words",
           "CUSTOM_HINT"]


class CaptionScorer:
    """The ``score_fn`` of one caption: ``(B, C, H, W)`` pixels in [0, 1] -> ``(B, n_words)`` P(word).

    Built by :meth:`CaptionExplainer.scorer`; exposes the pieces so they can be checked.

    Attributes
    ----------
    pixels : torch.Tensor
        ``(C, H, W)`` clean pixels in [0, 1] on the model's device (what GLAS perturbs).
    tokens : CaptionTokens
        Prefix and target token ids.
    words : list of Word
        Explained words (special tokens left out) and their token positions.
    """

    def __init__(self, family: Family, space: PixelSpace, pixels: torch.Tensor, tokens: CaptionTokens,
                 words: list[Word], dtype: torch.dtype) -> None:
        self.family = family
        self.space = space
        self.pixels = pixels
        self.tokens = tokens
        self.words = words
        self.dtype = dtype
        self._matrix = word_matrix(words, int(tokens.target_ids.shape[0]), device=pixels.device)

    @torch.no_grad()
    def token_logprobs(self, batch: torch.Tensor) -> torch.Tensor:
        """``(B, T_tokens)`` teacher-forced log-probabilities of every caption token, one forward pass."""
        return self.family.token_logprobs(self.space.normalize(batch, self.dtype), self.tokens)

    @torch.no_grad()
    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """``(B, n_words)`` word probabilities: the product of each word's token probabilities."""
        logprobs = self.token_logprobs(batch)
        return torch.exp(logprobs @ self._matrix.to(logprobs.device)).clamp(0.0, 1.0)


@dataclass
class CaptionExplanation:
    """One GLAS map per caption word.

    Attributes
    ----------
    caption : str
        The explained caption.
    words : list of str
        Explained words, in order (special tokens are not explained).
    token_ids : list of tuple of int
        Token ids of each word.
    maps : numpy.ndarray
        ``(n_words, H, W)`` saliency at the model's input resolution.
    word_probs : numpy.ndarray
        ``(n_words,)`` P(word | clean image, previous words).
    image : numpy.ndarray
        ``(H, W, C)`` clean pixels in [0, 1] the maps align with.
    result : glas_core.GLASResult
        The raw sweep (light/shadow scores, points, sigma in pixels, n_forward).
    """

    caption: str
    words: list[str]
    token_ids: list[tuple[int, ...]]
    maps: np.ndarray
    word_probs: np.ndarray
    image: np.ndarray
    result: Any

    def plot(self, *, cols: int = 4, alpha: float | None = None, cmap: str | None = None) -> Any:
        """The image, then one overlay per word titled with the word (paper Figure 11).

        Returns a matplotlib ``Figure`` (drawn with :func:`glas_core.viz.caption_words`; never shown).
        """
        from glas_core import viz

        style = {k: v for k, v in (("alpha", alpha), ("cmap", cmap)) if v is not None}
        return viz.caption_words(self.image, self.words, self.maps, caption=self.caption, ncols=cols, **style)


class CaptionExplainer:
    """Explain every word of an image caption with GLAS, in one sweep.

    Parameters
    ----------
    model : transformers model
        ``VisionEncoderDecoderModel``, ``BlipForConditionalGeneration``, or a decoder-only
        ``AutoModelForImageTextToText`` model (GIT, LLaVA, ...). Other models need ``token_logprobs``.
    processor : transformers processor or image processor
        Gives the resized pixels and the normalisation (``image_mean``, ``image_std``); its
        ``.tokenizer`` is used unless ``tokenizer`` is given.
    tokenizer : transformers tokenizer, optional
        When ``processor`` is a bare image processor.
    token_logprobs : callable, optional
        Custom scoring for other model families:
        ``token_logprobs(pixel_values, target_ids) -> (B, T)`` log P(target_ids[t] | image, target_ids[:t])
        for a ``(B, C, H, W)`` batch of normalised pixel values and the ``(T,)`` ids of
        ``tokenizer(caption).input_ids``. A caption string is then required.
    """

    def __init__(self, model: Any, processor: Any, *, tokenizer: Any = None,
                 token_logprobs: TokenLogprobs | None = None) -> None:
        self.model = model
        self.processor = processor
        self.image_processor, self.tokenizer = split_processor(processor, tokenizer)
        self.space = PixelSpace.from_image_processor(self.image_processor)
        self.family = detect_family(model, self.tokenizer, token_logprobs)
        self.device, self.dtype = model_device_dtype(model)

    def scorer(self, image: Any, caption: str | None = None, *, prompt: str | None = None,
               max_new_tokens: int = 30, generate_kwargs: dict[str, Any] | None = None) -> CaptionScorer:
        """Build the score function of one image and caption (generated when ``caption`` is None)."""
        if caption is not None and (not isinstance(caption, str) or not caption.strip()):
            raise error("caption", caption, "a non-empty string, or None to generate one",
                        "pass the caption text, e.g. caption='a dog on a sofa'")
        if hasattr(self.model, "eval"):
            self.model.eval()  # dropout off: scores must be deterministic
        pixels = pixels_01(self.image_processor, image).to(self.device)
        if caption is None:
            with torch.no_grad():
                tokens = self.family.generate(self.space.normalize(pixels[None], self.dtype), image, prompt,
                                              self.processor, max_new_tokens=max_new_tokens,
                                              **(generate_kwargs or {}))
        else:
            tokens = self.family.from_text(caption, image, prompt, self.processor)
        words = group_words(self.tokenizer, tokens.target_ids.tolist())
        if not words:
            received = caption if caption is not None else "a generated caption with no words"
            raise error("caption", received, "a caption with at least one non-special token",
                        "pass a caption with words in it" + ("" if caption is not None else
                                                             ", or raise max_new_tokens"))
        return CaptionScorer(self.family, self.space, pixels, tokens, words, self.dtype)

    def explain(self, image: Any, caption: str | None = None, *, prompt: str | None = None,
                grid: int | Sequence[int] | None = 15, sigma: float | Sequence[float] | None = None,
                sigma_px: Any = None, mode: str = "fusion", lam: float = 1e-5, batch_size: int = 32,
                progress: bool | Callable[[int, int], None] | None = None, max_new_tokens: int = 30,
                generate_kwargs: dict[str, Any] | None = None) -> CaptionExplanation:
        """Explain every word of ``caption`` (generated first when None) with one GLAS sweep.

        Parameters
        ----------
        image : PIL.Image, numpy array or torch tensor
            One image: uint8 in [0, 255] or float in [0, 1], ``(H, W, C)`` or ``(C, H, W)``.
        caption : str, optional
            Caption to explain; None generates one (``max_new_tokens``, ``generate_kwargs``).
        prompt : str, optional
            Text before the caption for prompted models (e.g. LLaVA's ``"<image>"`` template).
        grid, sigma, sigma_px, mode, lam, batch_size
            As in :func:`glas_core.explain`; sigma ``None`` is ``glas_core.DEFAULT_SIGMA``
            ``(5, 3, 6)`` grid cells (light, shadow, spatial; paper Eq. 1-3).
        progress : bool or callable, optional
            True draws a tqdm bar; a callable gets ``(done_rows, total_rows)``.

        Returns
        -------
        CaptionExplanation
            ``maps`` ``(n_words, H, W)`` at the model's input resolution.
        """
        scorer = self.scorer(image, caption, prompt=prompt, max_new_tokens=max_new_tokens,
                             generate_kwargs=generate_kwargs)
        callback, close = _progress(progress)
        try:
            result = glas_core.explain(scorer, scorer.pixels, spatial_axes=(-2, -1), grid=grid, sigma=sigma,
                                       sigma_px=sigma_px, mode=mode, lam=lam, batch_size=batch_size,
                                       progress=callback)
        finally:
            close()
        words = scorer.words
        targets = scorer.tokens.target_ids.tolist()
        text = caption if caption is not None else " ".join(w.text for w in words)
        return CaptionExplanation(
            caption=text,
            words=[w.text for w in words],
            token_ids=[tuple(int(targets[p]) for p in w.positions) for w in words],
            maps=np.asarray(result.to_numpy()),
            word_probs=np.asarray(glas_core.to_numpy(result.clean_scores), dtype=np.float64),
            image=scorer.pixels.permute(1, 2, 0).cpu().numpy(),
            result=result,
        )


def _progress(progress: bool | Callable[[int, int], None] | None) -> tuple[Any, Callable[[], None]]:
    """Turn ``progress=True`` into a tqdm callback; pass callables through."""
    if progress is None or progress is False:
        return None, lambda: None
    if callable(progress):
        return progress, lambda: None
    from tqdm.auto import tqdm

    bar = tqdm(total=0, unit="img", desc="GLAS caption")

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar.close


class HFImageClassifier(torch.nn.Module):
    """An ``AutoModelForImageClassification`` that takes raw ``(B, C, H, W)`` pixels in [0, 1].

    Normalisation with the processor's mean and std happens inside ``forward``, after GLAS
    masks the pixels, so ``GLASAttribution(HFImageClassifier(model, processor))`` perturbs
    real pixels (a shadow is black, not the dataset mean).

    Parameters
    ----------
    model : transformers image classification model
        Returns ``.logits``.
    processor : transformers processor or image processor
        Gives the resized pixels (:meth:`prepare`) and ``image_mean`` / ``image_std``.

    Examples
    --------
    >>> clf = HFImageClassifier(model, processor)                  # doctest: +SKIP
    >>> x = clf.prepare(pil_image)                                 # (3, 224, 224) in [0, 1]
    >>> res = glas_core.explain(clf.score_fn(target=281), x)       # or GLASAttribution(clf)
    """

    def __init__(self, model: Any, processor: Any) -> None:
        super().__init__()
        self.model = model
        self.image_processor, _ = split_processor(processor, tokenizer=False)
        self.space = PixelSpace.from_image_processor(self.image_processor)

    def prepare(self, image: Any) -> torch.Tensor:
        """``(C, H, W)`` pixels in [0, 1] at the model's input size, on the model's device."""
        device, _ = model_device_dtype(self.model)
        return pixels_01(self.image_processor, image).to(device)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Logits of a ``(B, C, H, W)`` batch of [0, 1] pixels."""
        if pixels.ndim != 4:
            raise error("pixels", f"a tensor of shape {tuple(pixels.shape)}", "a (B, C, H, W) batch in [0, 1]",
                        "add a batch axis: pixels[None]")
        _, dtype = model_device_dtype(self.model)
        out = self.model(pixel_values=self.space.normalize(pixels, dtype))
        return out.logits if hasattr(out, "logits") else out

    def score_fn(self, target: int | Sequence[int]) -> Callable[[torch.Tensor], torch.Tensor]:
        """A ``glas_core`` score function: softmax probabilities of ``target`` class(es), ``(B, T)``."""
        columns = [int(target)] if isinstance(target, (int, np.integer)) else [int(t) for t in target]

        @torch.no_grad()
        def score(batch: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self(batch).float(), dim=-1)[:, columns]

        return score
