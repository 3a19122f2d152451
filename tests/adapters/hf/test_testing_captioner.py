"""glas_adapters.testing.captioner without training: scenes have one true caption, the pieces fit."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from glas_adapters.testing import captioner  # noqa: E402


def scenes(n: int, seed: int = 0) -> list[captioner.Scene]:
    rng = np.random.default_rng(seed)
    return [captioner.make_scene(rng) for _ in range(n)]


def test_each_scene_has_one_true_caption():
    """Colour order names the objects; the relation word says where the first one is."""
    rank = list(captioner.COLOURS)
    seen_relations = set()
    for scene in scenes(200):
        words = scene.caption.split()
        assert len(words) == 8 and words[0] == words[5] == "a" and words[4] == "of"
        (c1, s1), (c2, s2) = scene.words
        assert (words[1], words[2], words[6], words[7]) == (c1, s1, c2, s2)
        assert rank.index(c1) < rank.index(c2)
        first_x = np.nonzero(scene.masks[0])[1].mean()
        second_x = np.nonzero(scene.masks[1])[1].mean()
        assert words[3] == ("left" if first_x < second_x else "right")
        seen_relations.add(words[3])
    assert seen_relations == {"left", "right"}


def test_masks_are_painted_in_the_named_colours():
    for scene in scenes(20, seed=1):
        for mask, (colour, _) in zip(scene.masks, scene.words):
            assert mask.sum() > 30
            np.testing.assert_allclose(scene.image[mask], np.broadcast_to(captioner.COLOURS[colour],
                                                                          scene.image[mask].shape), atol=1e-6)
        assert not (scene.masks[0] & scene.masks[1]).any()


def test_tokenizer_covers_every_caption_and_training_batches_line_up():
    pytest.importorskip("transformers")
    tokenizer = captioner.make_tokenizer()
    for scene in scenes(50, seed=2):
        ids = tokenizer(scene.caption)["input_ids"]
        assert tokenizer.unk_token_id not in ids and ids[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(ids, skip_special_tokens=True) == scene.caption
    pixels, labels = captioner.training_batch(np.random.default_rng(3), 4, tokenizer)
    assert pixels.shape == (4, 3, captioner.IMAGE_SIZE, captioner.IMAGE_SIZE) and labels.shape == (4, 9)
    assert float(pixels.min()) >= -1.0 and float(pixels.max()) <= 1.0


def test_processor_pixels_match_the_training_pixels():
    """What generate_caption feeds the model is what training fed it (up to 8-bit rounding)."""
    pytest.importorskip("transformers")
    tokenizer = captioner.make_tokenizer()
    processor = captioner.make_image_processor()
    rng = np.random.default_rng(4)
    scene = captioner.make_scene(np.random.default_rng(4))
    trained_on, _ = captioner.training_batch(rng, 1, tokenizer)
    given = processor(images=scene.image, do_rescale=False, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(given, trained_on, atol=2 / 255, rtol=0)
