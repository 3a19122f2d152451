"""HFVideoClassifier: tiny VideoMAE, TimeSformer and ViViT explained over time and space."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from glas_adapters.hf import HFVideoClassifier  # noqa: E402
from glas_core import GLASError  # noqa: E402

FRAMES, SIZE = 8, 32
TINY = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, num_labels=5)
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def _videomae():
    config = transformers.VideoMAEConfig(image_size=SIZE, patch_size=8, num_frames=FRAMES, tubelet_size=2, **TINY)
    processor = transformers.VideoMAEImageProcessor(size={"shortest_edge": SIZE},
                                                    crop_size={"height": SIZE, "width": SIZE})
    return transformers.VideoMAEForVideoClassification(config), processor


def _timesformer():
    config = transformers.TimesformerConfig(image_size=SIZE, patch_size=8, num_frames=FRAMES, **TINY)
    processor = transformers.VideoMAEImageProcessor(size={"shortest_edge": SIZE},  # TimeSformer's processor
                                                    crop_size={"height": SIZE, "width": SIZE},
                                                    image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD)
    return transformers.TimesformerForVideoClassification(config), processor


def _vivit():
    config = transformers.VivitConfig(image_size=SIZE, num_frames=FRAMES, tubelet_size=[2, 8, 8], **TINY)
    processor = transformers.VivitImageProcessor(size={"shortest_edge": SIZE},
                                                 crop_size={"height": SIZE, "width": SIZE})
    return transformers.VivitForVideoClassification(config), processor


BUILDERS = {"videomae": _videomae, "timesformer": _timesformer, "vivit": _vivit}


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def video_models():
    built = {}
    for seed, (name, build) in enumerate(BUILDERS.items()):
        torch.manual_seed(seed)
        model, processor = build()
        built[name] = (model.eval(), processor)
    return built


@pytest.fixture(scope="module")
def clip():
    """A uint8 clip of another frame size than the model's, so the processor resizes and crops it."""
    return (np.random.default_rng(0).random((FRAMES, 40, 48, 3)) * 255).astype(np.uint8)


def _by_hand(processor, clip):
    """The processor's pipeline after resizing, written out: rescale (ViViT: offset to [-1, 1]), then mean/std."""
    resized = np.asarray(processor(list(clip), do_rescale=False, do_normalize=False,
                                   **({"offset": False} if getattr(processor, "offset", False) else {}),
                                   return_tensors="np")["pixel_values"], dtype=np.float64)[0]
    values = resized * processor.rescale_factor - (1.0 if getattr(processor, "offset", False) else 0.0)
    mean = np.asarray(processor.image_mean).reshape(1, 3, 1, 1)
    std = np.asarray(processor.image_std).reshape(1, 3, 1, 1)
    return (values - mean) / std


@pytest.mark.parametrize("name", list(BUILDERS))
def test_the_pixel_path_reproduces_the_processor(video_models, clip, name):
    model, processor = video_models[name]
    clf = HFVideoClassifier(model, processor)
    pixels = clf.prepare(clip)
    assert pixels.shape == (3, FRAMES, SIZE, SIZE) and 0.0 <= float(pixels.min()) and float(pixels.max()) <= 1.0
    theirs = np.asarray(processor(list(clip), return_tensors="np")["pixel_values"])[0]
    ours = clf.space.apply(pixels.permute(1, 0, 2, 3)[None], channel_axis=2)[0].numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    np.testing.assert_allclose(theirs, _by_hand(processor, clip), atol=1e-5)  # what the space must reproduce
    with torch.no_grad():
        logits = model(pixel_values=torch.as_tensor(theirs)[None]).logits
        torch.testing.assert_close(clf(pixels[None]), logits, atol=1e-5, rtol=1e-5)


def test_a_float_clip_in_unit_range_is_the_uint8_clip(video_models, clip):
    model, processor = video_models["videomae"]
    clf = HFVideoClassifier(model, processor)
    torch.testing.assert_close(clf.prepare(clip.astype(np.float32) / 255), clf.prepare(clip), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["videomae", "vivit"])
def test_one_sweep_gives_one_map_per_target_of_the_clip_shape(video_models, name):
    model, processor = video_models[name]
    clf = HFVideoClassifier(model, processor)
    frames = (np.random.default_rng(1).random((FRAMES, SIZE, SIZE, 3)) * 255).astype(np.uint8)
    calls = []
    original = clf.forward

    def counting(pixels):
        calls.append(int(pixels.shape[0]))
        return original(pixels)

    clf.forward = counting
    grid = (4, 4, 4)
    exp = clf.explain(frames, targets=[1, 3, 4], grid=grid, sigma=1.0, batch_size=200)
    assert exp.maps.shape == (3, FRAMES, SIZE, SIZE)
    assert exp.targets == [1, 3, 4] and exp.frames.shape == (FRAMES, SIZE, SIZE, 3)
    # one clean pass for the probabilities, then ONE sweep of 2 * 4^3 + 1 rows for all three targets
    assert sum(calls) == 1 + 2 * int(np.prod(grid)) + 1
    assert not np.allclose(exp.maps[0], exp.maps[1])
    with torch.no_grad():
        probs = torch.softmax(model(pixel_values=torch.as_tensor(
            processor(list(frames), return_tensors="np")["pixel_values"])).logits, -1)[0].numpy()
    np.testing.assert_allclose(exp.probs, probs[[1, 3, 4]], rtol=1e-5)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_the_map_peaks_where_the_only_content_is(video_models, name):
    """A black clip with one bright patch in frames 4-5: masking black pixels changes nothing, so every
    difference the sweep sees comes from the patch. For the class the patch raises most, the map's peak lies
    on the patch, in time and in space."""
    model, processor = video_models[name]
    clf = HFVideoClassifier(model, processor)
    frames = np.zeros((FRAMES, SIZE, SIZE, 3), np.uint8)
    frames[4:6, 4:12, 20:28] = 255
    with torch.no_grad():
        gain = (torch.log_softmax(clf(clf.prepare(frames)[None]), -1)
                - torch.log_softmax(clf(clf.prepare(np.zeros_like(frames))[None]), -1))[0]
    target = int(gain.argmax())
    assert float(gain[target]) > 0
    exp = clf.explain(frames, targets=target, grid=(8, 8, 8), sigma_px=((0.7, 3, 3),) * 3, batch_size=256)
    t, y, x = np.unravel_index(int(exp.maps[0].argmax()), exp.maps[0].shape)
    assert t in (4, 5) and 4 <= y < 12 and 20 <= x < 28, (t, y, x)
    per_frame = exp.maps[0].sum(axis=(1, 2))
    assert per_frame[4:6].min() > per_frame[[0, 1, 2, 7]].max()


def test_refusals(video_models, clip):
    model, processor = video_models["videomae"]
    clf = HFVideoClassifier(model, processor)
    with pytest.raises(GLASError, match=r"clip must be the 8 frames the model is built for .*got 6 frames; "
                                        r"sample 8 frames, e\.g\. clip\[np\.linspace"):
        clf.prepare(clip[:6])
    with pytest.raises(GLASError, match=r"channels last, got an array of shape \(8, 3, 40, 48\); move the channel"):
        clf.prepare(np.moveaxis(clip, -1, 1))
    with pytest.raises(GLASError, match=r"one clip of shape \(T, H, W, C\).*pass clip\[0\]"):
        clf.prepare(clip[None])
    with pytest.raises(GLASError, match=r"floats in \[0, 1\].*divide by 255"):
        clf.prepare(clip.astype(np.float32))
    with pytest.raises(GLASError, match=r"finite pixel values"):
        clf.prepare(np.full(clip.shape, np.nan, np.float32))
    with pytest.raises(GLASError, match=r"uint8 in \[0, 255\] or floats in \[0, 1\]"):
        clf.prepare(clip.astype(np.int32))
    small = transformers.VideoMAEImageProcessor(size={"shortest_edge": 24}, crop_size={"height": 24, "width": 24})
    with pytest.raises(GLASError, match=r"the 32 x 32 pixels the model is built for, got VideoMAEImageProcessorPil "
                                        r"resizing frames to 24 x 24"):
        HFVideoClassifier(model, small).prepare(clip)
    with pytest.raises(GLASError, match=r"processor must be a HuggingFace video or image processor"):
        HFVideoClassifier(model, object())
    vivit, vivit_processor = video_models["vivit"]
    with pytest.raises(GLASError, match=r"a uint8 clip for this processor, got a float clip.*np\.round\(clip \* 255\)"):
        HFVideoClassifier(vivit, vivit_processor).prepare(clip / 255.0)


def test_a_processor_step_the_adapter_does_not_rerun_is_refused(video_models, clip):
    """A processor whose output is not rescale-then-normalise of its resized pixels: never explained silently."""
    model, processor = video_models["videomae"]

    class Brighter(type(processor)):
        def preprocess(self, videos, **kwargs):
            out = super().preprocess(videos, **kwargs)
            if kwargs.get("do_normalize", True):
                out["pixel_values"] = np.asarray(out["pixel_values"]) + 0.25
            return out

    odd = Brighter(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    with pytest.raises(GLASError, match=r"processor must be a processor this adapter reproduces, got Brighter, whose "
                                        r"pixel_values differ by 0\.25"):
        HFVideoClassifier(model, odd).prepare(clip)


def test_the_model_and_clip_are_left_as_they_were(video_models, clip):
    model, processor = video_models["timesformer"]
    before = clip.copy()
    clf = HFVideoClassifier(model, processor)
    clf.explain(clip, targets=0, grid=(2, 2, 2), sigma=1.0)
    np.testing.assert_array_equal(clip, before)
    assert not model.training and all(not p.requires_grad or p.grad is None for p in model.parameters())


def test_plot_draws_one_panel_per_frame(video_models):
    pytest.importorskip("matplotlib")
    model, processor = video_models["videomae"]
    frames = (np.random.default_rng(2).random((FRAMES, SIZE, SIZE, 3)) * 255).astype(np.uint8)
    exp = HFVideoClassifier(model, processor).explain(frames, targets=[0, 2], grid=(2, 2, 2), sigma=1.0)
    fig = exp.plot(1)
    assert len(fig.axes) == FRAMES
    assert [ax.get_title() for ax in fig.axes] == [f"frame {t}" for t in range(FRAMES)]
    with pytest.raises(GLASError, match=r"target must be the position of an explained class in \[0, 2\)"):
        exp.plot(2)
