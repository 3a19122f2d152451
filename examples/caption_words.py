"""Every word of a caption
=======================

Explain every word of an image caption with GLAS (paper Figure 11), offline.

The toy captioner of ``glas_adapters.testing.captioner`` (a tiny ViT + GPT-2
VisionEncoderDecoder model) learns to caption synthetic scenes such as "a red circle left of
a blue square": about 1.5 minutes on one CPU thread the first time, loaded from its cache
after that. It captions a fresh scene, then ``CaptionExplainer`` explains every word of that
caption in one GLAS sweep, checks where each map peaks and saves one map per word.

    python examples/caption_words.py              # -> examples/output/caption_words.png
    python examples/caption_words.py --seed 3     # another scene

Needs PyTorch and HuggingFace transformers: ``pip install "glas-xai[hf]"``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is built here: never reach for the hub

try:
    import matplotlib  # noqa: F401 (the figure)
    import torch

    from glas_adapters.hf import CaptionExplainer
    from glas_adapters.testing import captioner
except ImportError as exc:
    sys.exit(f"caption_words.py needs PyTorch, transformers and matplotlib ({exc.name or exc} is missing): "
             f'pip install "glas-xai[hf]"')

from _output import figure_path  # noqa: E402


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=7, help="which synthetic scene to caption and explain")
    parser.add_argument("--grid", type=int, default=15, help="search points per axis")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # a small model: one thread is fastest, and leaves the other cores free

    start = time.perf_counter()
    cached = captioner.is_trained()
    model, processor, tokenizer = captioner.train_captioner(log=lambda line: print("  train", line))
    print(f"captioner {'loaded from its cache' if cached else 'trained'} in {time.perf_counter() - start:.1f}s")

    scene = captioner.make_scene(np.random.default_rng(args.seed))
    explainer = CaptionExplainer(model, processor, tokenizer=tokenizer)
    start = time.perf_counter()
    exp = explainer.explain(scene.image, grid=args.grid)  # caption=None: the model captions the scene first
    verdict = "right" if exp.caption == scene.caption else "WRONG"
    print(f"caption: {exp.caption!r} ({verdict}; the scene is {scene.caption!r})")
    print(f"{len(exp.words)} words explained with {exp.result.n_forward} image passes "
          f"in {time.perf_counter() - start:.1f}s")
    for position, (word, prob, heat) in enumerate(zip(exp.words, exp.word_probs, exp.maps)):
        y, x = np.unravel_index(np.argmax(heat), heat.shape)
        named = captioner.OBJECT_WORDS.get(position)
        where = "" if named is None else ("  on its object" if scene.masks[named][y, x] else "  off its object")
        print(f"  {word:>9s}  P={prob:.3f}  peak at (row {y}, col {x}){where}")

    path = figure_path("caption_words.png")
    exp.plot(cols=5).savefig(path, dpi=100)
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
