"""The toy captioner of glas_adapters.testing captions fresh scenes right, word for word.

Each scene has one true caption (the object whose colour comes first in ``COLOURS`` is named
first), so a greedy caption is either that caption or wrong. The scenes are the first scene of
seeds 7 to 18, none of them from the training stream (seed 0); seed 7 is the scene
``examples/caption_words.py`` explains by default.
"""

from __future__ import annotations

import numpy as np
import pytest

from glas_adapters.testing import captioner

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_greedy_captions_of_fresh_scenes_are_the_true_captions(captioner_parts):
    model, processor, tokenizer = captioner_parts
    wrong = []
    for seed in range(7, 19):
        scene = captioner.make_scene(np.random.default_rng(seed))
        caption = captioner.generate_caption(model, processor, tokenizer, scene.image)
        if caption != scene.caption:
            wrong.append(f"seed {seed}: {caption!r} instead of {scene.caption!r}")
    assert not wrong, "; ".join(wrong)
