"""HFVideoClassifier: tiny VideoMAE, TimeSformer and ViViT explained over time and space, at the clip's size.

The references run Pillow and NumPy by hand, or the processor itself on every perturbed clip
rounded to uint8 (the loop of tests/core/reference.py); nothing of the adapter's torch rebuild
of the processor is reused.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from glas_adapters.hf import HFVideoClassifier  # noqa: E402
from glas_core import GLASError  # noqa: E402
from tests.core.reference import reference_glas, reference_grid_points  # noqa: E402

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
    """The processor's pipeline written out: Pillow's resize of each frame (shortest edge to SIZE), the
    center crop, rescale (ViViT: offset to [-1, 1]), then mean/std, in NumPy."""
    from PIL import Image

    frames = []
    for frame in clip:
        h, w = frame.shape[:2]
        new_h, new_w = (SIZE, int(SIZE * w / h)) if h <= w else (int(SIZE * h / w), SIZE)
        resized = np.asarray(Image.fromarray(frame).resize((new_w, new_h), resample=Image.Resampling.BILINEAR))
        top, left = (new_h - SIZE) // 2, (new_w - SIZE) // 2
        frames.append(resized[top:top + SIZE, left:left + SIZE].transpose(2, 0, 1))
    values = np.stack(frames).astype(np.float64) * processor.rescale_factor
    values -= 1.0 if getattr(processor, "offset", False) else 0.0
    mean = np.asarray(processor.image_mean).reshape(1, 3, 1, 1)
    std = np.asarray(processor.image_std).reshape(1, 3, 1, 1)
    return (values - mean) / std


@pytest.mark.parametrize("name", list(BUILDERS))
def test_the_pixel_path_reproduces_the_processor(video_models, clip, name):
    model, processor = video_models[name]
    clf = HFVideoClassifier(model, processor)
    pixels = clf.prepare(clip)
    assert pixels.shape == (3, FRAMES, 40, 48)  # the clip itself, at its own size
    np.testing.assert_array_equal(pixels.permute(1, 2, 3, 0).numpy(), clip / np.float32(255))
    theirs = np.asarray(processor(list(clip), return_tensors="np")["pixel_values"])[0]
    ours = clf.pipelines[(40, 48)](pixels[None])[0].numpy()
    assert ours.shape == theirs.shape == (FRAMES, 3, SIZE, SIZE)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)  # 1e-5 after normalisation: a bit-exact resize
    np.testing.assert_allclose(theirs, _by_hand(processor, clip), atol=1e-5)  # what the rebuild must reproduce
    with torch.no_grad():
        logits = model(pixel_values=torch.as_tensor(theirs)[None]).logits
        torch.testing.assert_close(clf(pixels[None]), logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["videomae", "vivit"])
def test_a_float_clip_in_unit_range_is_the_uint8_clip(video_models, clip, name):
    model, processor = video_models[name]
    clf = HFVideoClassifier(model, processor)
    torch.testing.assert_close(clf.prepare(clip.astype(np.float32) / 255), clf.prepare(clip), atol=0, rtol=0)


@pytest.mark.parametrize("name", ["videomae", "vivit"])
def test_one_sweep_gives_one_map_per_target_of_the_clip_shape(video_models, clip, name):
    """Frames larger than the model's (40 x 48 for 32 x 32): resized and cropped on every masked clip."""
    model, processor = video_models[name]
    clf = HFVideoClassifier(model, processor)
    calls = []
    original = clf.forward

    def counting(pixels):
        calls.append(int(pixels.shape[0]))
        return original(pixels)

    clf.forward = counting
    grid = (4, 4, 4)
    exp = clf.explain(clip, targets=[1, 3, 4], grid=grid, sigma=1.0, batch_size=200)
    assert exp.maps.shape == (3, FRAMES, 40, 48)
    assert exp.targets == [1, 3, 4] and exp.frames.shape == (FRAMES, 40, 48, 3)
    np.testing.assert_allclose(exp.frames, clip / 255.0, atol=1e-7)
    # one clean pass for the probabilities, then ONE sweep of 2 * 4^3 + 1 rows for all three targets
    assert sum(calls) == 1 + 2 * int(np.prod(grid)) + 1
    assert not np.allclose(exp.maps[0], exp.maps[1])
    with torch.no_grad():
        probs = torch.softmax(model(pixel_values=torch.as_tensor(
            processor(list(clip), return_tensors="np")["pixel_values"])).logits, -1)[0].numpy()
    np.testing.assert_allclose(exp.probs, probs[[1, 3, 4]], rtol=1e-5)


TINY_FRAMES, TINY_SIZE, TINY_CLIP = 4, 16, (4, 19, 23, 3)


def _tiny(name):
    """A model of 4 frames of 16 x 16 pixels and its processor, for the paper's loop over a small clip."""
    common = dict(image_size=TINY_SIZE, num_frames=TINY_FRAMES, **TINY)
    sizes = dict(size={"shortest_edge": TINY_SIZE}, crop_size={"height": TINY_SIZE, "width": TINY_SIZE})
    torch.manual_seed(3)
    if name == "videomae":
        return (transformers.VideoMAEForVideoClassification(transformers.VideoMAEConfig(patch_size=8, tubelet_size=2,
                                                                                        **common)),
                transformers.VideoMAEImageProcessor(**sizes))
    if name == "timesformer":
        return (transformers.TimesformerForVideoClassification(transformers.TimesformerConfig(patch_size=8, **common)),
                transformers.VideoMAEImageProcessor(**sizes, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD))
    return (transformers.VivitForVideoClassification(transformers.VivitConfig(tubelet_size=[2, 8, 8], **common)),
            transformers.VivitImageProcessor(**sizes))


@pytest.mark.parametrize("name", list(BUILDERS))
def test_maps_are_the_papers_with_the_processor_on_every_perturbed_clip(name):
    """The reference loop of tests/core/reference.py; each perturbed clip is rounded to uint8 frames and goes
    through the real processor and the model. The clip's 19 x 23 frames are resized to 16 x 19 and cropped."""
    model, processor = _tiny(name)
    model.eval()
    clip = (np.random.default_rng(4).random(TINY_CLIP) * 255).astype(np.uint8)
    clf = HFVideoClassifier(model, processor)
    sig = (0.8, 5.0, 5.0)
    exp = clf.explain(clip, targets=[0, 2], grid=(2, 2, 2), sigma_px=(sig, sig, sig))
    assert exp.maps.shape == (2,) + TINY_CLIP[:3]

    def score_one(img):  # (C, T, H, W) in [0, 1]
        frames = np.round(np.clip(np.moveaxis(np.asarray(img, np.float64), 0, -1), 0, 1) * 255).astype(np.uint8)
        values = processor(list(frames), return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            return torch.softmax(model(pixel_values=values).logits.double(), -1)[0, [0, 2]].numpy()

    x = np.moveaxis(clip, -1, 0).astype(np.float64) / 255.0
    ref, *_ = reference_glas(score_one, x, reference_grid_points(TINY_CLIP[:3], (2, 2, 2)), sig, sig, sig)
    for t in range(2):
        assert float(np.ptp(ref[t])) > 1e-2 * float(ref[t].max()) > 0
        np.testing.assert_allclose(exp.maps[t] / exp.maps[t].max(), ref[t] / ref[t].max(), rtol=1e-3, atol=1e-5)


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
    with pytest.raises(GLASError, match=r"clip must be uint8 frames, or uint8 frames divided by 255 .*got a float "
                                        r"clip 0\.0008 away from multiples of 1/255; .*np\.round\(clip \* 255\)"):
        clf.prepare(np.clip(clip / 255.0 + 0.0008, 0, 1))
    with pytest.raises(GLASError, match=r"pixels must be clips of a frame size prepare\(\) has checked the processor "
                                        r"on, got clips of 20 x 24 pixels; build them with clf\.prepare\(clip\)"):
        clf(torch.zeros(1, 3, FRAMES, 20, 24))
    padded = transformers.VideoMAEImageProcessor(size={"shortest_edge": 24}, crop_size={"height": SIZE, "width": SIZE})
    with pytest.raises(GLASError, match=r"a processor cropping inside its resized frames \(crop_size no larger than "
                                        r"them\), got VideoMAEImageProcessorPil cropping 32 x 32 pixels out of frames "
                                        r"resized to 24 x 28 \(it pads them\); set the processor's size"):
        HFVideoClassifier(model, padded).prepare(clip)
    nearest = transformers.VideoMAEImageProcessor(size={"shortest_edge": SIZE},
                                                  crop_size={"height": SIZE, "width": SIZE}, resample=0)
    with pytest.raises(GLASError, match=r"resample=NEAREST"):
        HFVideoClassifier(model, nearest).prepare(clip)

    class Torchvision(type(processor)):
        backend = "torchvision"

    with pytest.raises(GLASError, match=r"a video processor with the Pillow backend .*got Torchvision \(backend "
                                        r"'torchvision'\); load it with .*backend='pil'"):
        HFVideoClassifier(model, Torchvision(size={"shortest_edge": SIZE})).prepare(clip)


def test_a_processor_step_the_adapter_does_not_rerun_is_refused(video_models, clip):
    """A processor with a step the rebuild does not know: never explained silently."""
    model, processor = video_models["videomae"]

    class Brighter(type(processor)):
        def preprocess(self, videos, **kwargs):
            out = super().preprocess(videos, **kwargs)
            if kwargs.get("do_normalize", True):
                out["pixel_values"] = np.asarray(out["pixel_values"]) + 0.25
            return out

    odd = Brighter(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    with pytest.raises(GLASError, match=r"processor must be a processor this adapter reproduces .*got Brighter, whose "
                                        r"pixel_values the torch rebuild misses by 0\.25 on this clip"):
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
