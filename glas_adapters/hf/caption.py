"""Every word of an image caption explained with GLAS, in one sweep.

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
from typing import Any, Sequence

import numpy as np
import torch

import glas_core
from glas_core.config import config_from
from glas_core.errors import fail

from .._common import Progress, ProgressFn
from .families import CaptionTokens, Family, TokenLogprobs, detect_family
from .pixels import PixelSpace, model_device_dtype, pixels_01, split_processor
from .words import Word, group_words, word_matrix

#: Rows per forward pass when neither ``batch_size`` nor ``config`` is given: caption models
#: run an encoder and a decoder per row, so fewer rows than a classifier's 64.
CAPTION_BATCH_SIZE = 32


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
            raise fail("caption", caption, "a non-empty string, or None to generate one",
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
            raise fail("caption", received, "a caption with at least one non-special token",
                        "pass a caption with words in it" + ("" if caption is not None else
                                                             ", or raise max_new_tokens"))
        return CaptionScorer(self.family, self.space, pixels, tokens, words, self.dtype)

    def explain(self, image: Any, caption: str | None = None, *, prompt: str | None = None,
                grid: int | Sequence[int] | None = None, sigma: float | Sequence[float] | None = None,
                sigma_px: Any = None, mode: str | None = None, lam: float | None = None, baseline: Any = None,
                batch_size: int | None = None, progress: bool | ProgressFn | None = None,
                config: glas_core.GLASConfig | None = None, max_new_tokens: int = 30,
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
        grid, sigma, sigma_px, mode, lam
            As in :func:`glas_core.explain`; None takes the default: k = 15 and
            ``glas_core.DEFAULT_SIGMA`` = (5, 3, 6) grid cells (light, shadow, spatial; paper
            Eq. 1-3), "fusion", 1e-5. Giving both ``sigma`` and ``sigma_px`` is an error.
        baseline : None, float or tensor
            What the masks fade to in the [0, 1] pixels (None means 0, black: the paper); a
            tensor has the shape of the model's input pixels ``(C, H, W)``.
        batch_size : int, optional
            Images per forward pass (None: 32).
        progress : bool or callable, optional
            True draws a tqdm bar; a callable gets ``(done_rows, total_rows)``.
        config : glas_core.GLASConfig, optional
            All settings at once; then ``grid`` ... ``lam`` and ``batch_size`` must be left out.

        Returns
        -------
        CaptionExplanation
            ``maps`` ``(n_words, H, W)`` at the model's input resolution.
        """
        if config is None and batch_size is None:
            batch_size = CAPTION_BATCH_SIZE
        settings = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                               batch_size=batch_size)
        scorer = self.scorer(image, caption, prompt=prompt, max_new_tokens=max_new_tokens,
                             generate_kwargs=generate_kwargs)
        with Progress(progress, desc="GLAS caption", unit="img") as report:
            result = glas_core.explain(scorer, scorer.pixels, spatial_axes=(-2, -1),
                                       baseline=0.0 if baseline is None else baseline, progress=report.sweep(),
                                       config=settings)
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
