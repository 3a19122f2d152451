"""Explain every word of an image caption with GLAS (paper Figure 11), offline, in under a minute.

A tiny VisionEncoderDecoder captioner (ViT + GPT-2) of coloured shapes is trained on the spot
on synthetic scenes ("a red circle left of a blue square") or loaded from its temp-dir cache,
then ``CaptionExplainer`` explains all words of a caption in one GLAS sweep and saves one map
per word as a PNG.

    python examples/caption_words.py                 # -> <tempdir>/glas_caption_words.png
    python examples/caption_words.py --out words.png --seed 3
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from glas_adapters.testing import captioner as toy  # noqa: E402
from glas_adapters.hf import CaptionExplainer  # noqa: E402

FULL_STEPS = 1000   # what the integration suite trains (reused when its cache exists)
QUICK_STEPS = 400   # about 30 s on one thread: enough for the colour words to localise


def load_captioner(steps: int | None) -> tuple:
    """The cached fully-trained captioner if present, else a quick one (cached too)."""
    if steps is None:
        steps = FULL_STEPS if (toy._cache_dir(FULL_STEPS, 0, 48, 3e-3) / "model.pt").exists() else QUICK_STEPS
    return toy.train_captioner(steps=steps, log=lambda line: print("  train", line)), steps


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "glas_caption_words.png"))
    parser.add_argument("--seed", type=int, default=7, help="which synthetic scene to explain")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: cached or 400)")
    parser.add_argument("--grid", type=int, default=15)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # small model; the CI machine's cores are shared

    start = time.perf_counter()
    (model, processor, tokenizer), steps = load_captioner(args.steps)
    print(f"captioner ready ({steps} steps) in {time.perf_counter() - start:.1f}s")

    scene = toy.make_scene(np.random.default_rng(args.seed))
    explainer = CaptionExplainer(model, processor, tokenizer=tokenizer)
    start = time.perf_counter()
    exp = explainer.explain(scene.image, grid=args.grid)  # caption=None: the model captions it first
    print(f"caption: {exp.caption!r} (true: {scene.caption!r})")
    print(f"{len(exp.words)} words explained with {exp.result.n_forward} image passes "
          f"in {time.perf_counter() - start:.1f}s")
    for word, prob, heat in zip(exp.words, exp.word_probs, exp.maps):
        y, x = np.unravel_index(np.argmax(heat), heat.shape)
        print(f"  {word:>9s}  P={prob:.3f}  peak at (row {y}, col {x})")

    fig = exp.plot(cols=5)
    fig.savefig(args.out, dpi=100)
    print(f"saved {args.out}")
    return args.out


if __name__ == "__main__":
    main()
