"""Every word of an image caption explained with GLAS, in one sweep.

Captions (paper Section 4, Figure 11): the score of caption word ``w_t`` under a perturbed
image is its teacher-forced likelihood ``P(w_t | I * M, w_<t)``. One forward pass of a batch of
perturbed images scores every word at once, so :class:`CaptionExplainer` explains the whole
caption with one GLAS sweep of ``2 k^2 + 1`` image passes (grid ``k``), not one sweep per word.

Perturbation happens on the processor's resized pixels in [0, 1] (``do_normalize=False``);
the processor's mean/std normalisation is applied after masking, so a shadow is darkness,
not the dataset mean colour. Patchifying and cropping processors (Qwen2-VL, Idefics3,
SmolVLM, Pix2Struct) get their own patch / crop step rerun on every masked image
(:mod:`.vision`); their maps are at the resolution the processor resizes the image to.

The sweep gets each word's log-probability (the sum of its tokens' ``log_softmax``) and fuses
Eq. 1-3 in the log domain (``log_scores=True``): a word whose probability underflows in float32
under the masks still gets its map, which is the paper's Eq. 3 divided by one positive factor
per word (``result.log_scale``).

Example
-------
>>> from glas_adapters.hf import CaptionExplainer                       # doctest: +SKIP
>>> exp = CaptionExplainer(model, processor).explain(image)             # doctest: +SKIP
>>> exp.words, exp.maps.shape                                           # doctest: +SKIP
(['a', 'cat', 'on', 'a', 'sofa'], (5, 384, 384))
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import glas_core
from glas_core.config import config_from
from glas_core.errors import GLASError, fail, quoted

from .._common import Progress, ProgressFn
from .checks import check_image_size, check_token_ids, check_tokenizer, check_word_texts, evaluating, in_training
from .families import detect_family
from .family_base import CaptionTokens, Family, TokenLogprobs
from .pixels import checked_image, model_device_dtype, split_processor
from .vision import NormalizedPixels, VisionInputs, layout_of
from .words import Word, group_words, word_matrix

#: Rows per forward pass when neither ``batch_size`` nor ``config`` is given: caption models
#: run an encoder and a decoder per row, so fewer rows than a classifier's 64.
CAPTION_BATCH_SIZE = 32


class CaptionScorer:
    """The ``score_fn`` of one caption: ``(B, C, H, W)`` pixels in [0, 1] -> ``(B, n_words)`` scores.

    Built by :meth:`CaptionExplainer.scorer`; exposes the pieces so they can be checked.
    :meth:`word_logprobs` gives ``log P(word)`` (what the sweep uses, ``log_scores=True``),
    calling the scorer gives ``P(word)``.

    Attributes
    ----------
    vision : VisionInputs
        The clean pixels and how a masked batch becomes the model's image inputs.
    tokens : CaptionTokens
        Prefix and target token ids.
    words : list of Word
        Explained words (special tokens left out) and their token positions.
    """

    def __init__(self, family: Family, vision: VisionInputs, tokens: CaptionTokens, words: list[Word]) -> None:
        self.family = family
        self.vision = vision
        self.tokens = tokens
        self.words = words
        self._matrix = word_matrix(words, int(tokens.target_ids.shape[0]), device=vision.pixels.device)

    @property
    def pixels(self) -> torch.Tensor:
        """``(C, H, W)`` clean pixels in [0, 1] on the model's device (what GLAS perturbs)."""
        return self.vision.pixels

    @property
    def space(self) -> Any:
        """The processor's mean and std for fixed-size processors (:class:`~.pixels.PixelSpace`), else None."""
        layout = self.vision.layout
        return layout.space if isinstance(layout, NormalizedPixels) else None

    def model_inputs(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """The model's image inputs for a ``(B, C, H, W)`` batch of pixels in [0, 1]."""
        return self.vision(batch)

    @torch.no_grad()
    def token_logprobs(self, batch: torch.Tensor) -> torch.Tensor:
        """``(B, T_tokens)`` teacher-forced log-probabilities of every caption token, one forward pass."""
        with evaluating(self.family.model):
            return self.family.token_logprobs(self.vision(batch), self.tokens)

    @torch.no_grad()
    def word_logprobs(self, batch: torch.Tensor) -> torch.Tensor:
        """``(B, n_words)`` log P(word): the sum of each word's token log-probabilities."""
        logprobs = self.token_logprobs(batch)
        return (logprobs @ self._matrix.to(logprobs.device)).clamp(max=0.0)

    @torch.no_grad()
    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """``(B, n_words)`` word probabilities: the product of each word's token probabilities."""
        return torch.exp(self.word_logprobs(batch))


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
        ``(n_words, H, W)`` saliency at the resolution GLAS masks (the processor's resized image).
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

    def _repr_png_(self) -> bytes | None:
        """The word maps as a PNG, so an explanation at the end of a notebook cell is shown."""
        from glas_core.viz.notebook import maps_png

        return maps_png(self.maps, titles=list(self.words))

    def plot(self, *, cols: int = 4, alpha: float | None = None, cmap: str | None = None) -> Any:
        """The image, then one overlay per word titled with the word (paper Figure 11).

        Returns a matplotlib ``Figure`` (drawn with :func:`glas_core.viz.caption_words`; never shown).
        """
        from glas_core import viz

        style: dict[str, Any] = {k: v for k, v in (("alpha", alpha), ("cmap", cmap)) if v is not None}
        return viz.caption_words(self.image, self.words, self.maps, caption=self.caption, ncols=cols, **style)


class CaptionExplainer:
    """Explain every word of an image caption with GLAS, in one sweep.

    Parameters
    ----------
    model : transformers model
        ``VisionEncoderDecoderModel``, Pix2Struct, ``BlipForConditionalGeneration``, or a
        decoder-only ``AutoModelForImageTextToText`` model (GIT, LLaVA, PaliGemma, Qwen2-VL,
        Idefics3, SmolVLM, ...). Other models need ``token_logprobs``. A model in training mode
        is scored in eval mode (with a warning) and left in its own mode.
    processor : transformers processor or image processor
        Gives the resized pixels and the normalisation (``image_mean``, ``image_std``), and for
        chat models the image tokens of the prompt; its ``.tokenizer`` is used unless
        ``tokenizer`` is given.
    tokenizer : transformers tokenizer, optional
        When ``processor`` is a bare image processor (e.g. Qwen2-VL or SmolVLM without
        torchvision, whose full processors do not load). A tokenizer whose size or special
        tokens do not match the model's config is refused here, before any caption.
    token_logprobs : callable, optional
        Custom scoring for other model families:
        ``token_logprobs(pixel_values, target_ids) -> (B, T)`` log P(target_ids[t] | image, target_ids[:t])
        for a batch of the processor's ``pixel_values`` (``(B, C, H, W)`` normalised pixels for
        fixed-size processors) and the ``(T,)`` ids of ``tokenizer(caption).input_ids``. A
        caption string is then required.
    """

    def __init__(self, model: Any, processor: Any, *, tokenizer: Any = None,
                 token_logprobs: TokenLogprobs | None = None) -> None:
        self.model = model
        self.processor = processor
        self.image_processor, self.tokenizer = split_processor(processor, tokenizer)
        self.layout = layout_of(self.image_processor)
        self.family = detect_family(model, self.tokenizer, token_logprobs)
        check_tokenizer(model, self.tokenizer)
        self.device, self.dtype = model_device_dtype(model)

    def scorer(self, image: Any, caption: str | None = None, *, prompt: str | None = None,
               max_new_tokens: int = 30, generate_kwargs: dict[str, Any] | None = None) -> CaptionScorer:
        """Build the score function of one image and caption (generated when ``caption`` is None).

        The model runs once on the clean image here, so a processor or tokenizer that does not
        fit the model is refused before any sweep.
        """
        if caption is not None and (not isinstance(caption, str) or not caption.strip()):
            raise fail("caption", quoted(caption), "a non-empty string, or None to generate one",
                       "pass the caption text, e.g. caption='a dog on a sofa'")
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 1:
            raise fail("max_new_tokens", quoted(max_new_tokens), "a positive int (tokens to generate)",
                       "use max_new_tokens=30, or pass the caption text")
        self.family.check_prompt(prompt)
        image = checked_image(image)
        if in_training(self.model):
            warnings.warn("the caption model is in training mode (dropout on); GLAS scores it in eval mode and "
                          "leaves its mode as it was: call model.eval() first to silence this", UserWarning,
                          stacklevel=2)
        with evaluating(self.model):
            vision = VisionInputs.of(self.layout, image, self.device, self.dtype)
            check_image_size(self.model, self.image_processor, vision)
            if caption is None:
                with torch.no_grad():
                    tokens = self.family.generate(vision, image, prompt, self.processor,
                                                  max_new_tokens=int(max_new_tokens), **(generate_kwargs or {}))
            else:
                tokens = self.family.from_text(caption, image, prompt, self.processor, vision)
        check_token_ids(self.model, self.tokenizer, tokens, generated=caption is None)
        words = group_words(self.tokenizer, tokens.target_ids.tolist())
        if not words:
            received = quoted(caption) if caption is not None else "a generated caption with no words"
            raise fail("caption", received, "a caption with at least one non-special token",
                       "pass a caption with words in it" + ("" if caption is not None else
                                                            ", or raise max_new_tokens"))
        check_word_texts(words, tokens)
        scorer = CaptionScorer(self.family, vision, tokens, words)
        _probe(scorer)
        return scorer

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
            Text before the caption, in each family's own prompting: BLIP (BOS + the prompt's
            tokens) and GIT (``[CLS]`` + the prompt's tokens); PaliGemma (the processor's prefix);
            chat models take a prompt with the image token (``"USER: <image>\\n..."``) as written
            and plain text through the chat template, with the image first. None: no prompt
            (the chat template with the image alone). Encoder-decoder models take none.
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
            ``maps`` ``(n_words, H, W)`` at the resolution GLAS masks: the processor's resized image.
        """
        if config is None and batch_size is None:
            batch_size = CAPTION_BATCH_SIZE
        settings = config_from(config, grid=grid, sigma=sigma, sigma_px=sigma_px, mode=mode, lam=lam,
                               batch_size=batch_size)
        scorer = self.scorer(image, caption, prompt=prompt, max_new_tokens=max_new_tokens,
                             generate_kwargs=generate_kwargs)
        with Progress(progress, desc="GLAS caption", unit="img") as report:
            result = glas_core.explain(scorer.word_logprobs, scorer.pixels, spatial_axes=(-2, -1),
                                       baseline=0.0 if baseline is None else baseline, progress=report.sweep(),
                                       config=settings, log_scores=True)
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


def _probe(scorer: CaptionScorer) -> None:
    """Score the clean image once: a model that cannot take these inputs fails here, in one line."""
    try:
        scorer.token_logprobs(scorer.pixels[None])
    except GLASError:
        raise
    except (RuntimeError, ValueError, IndexError, TypeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise fail("processor", f"inputs the model cannot take ({type(error).__name__}: {first})",
                   "the processor and tokenizer saved with the model",
                   "load both with AutoProcessor.from_pretrained(<the model's name>)") from error
