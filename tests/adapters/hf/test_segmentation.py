"""glas_adapters.hf.explain_segments on tiny SegFormer, DPT and UperNet models built from configs offline.

The references run the processor itself on each perturbed image rounded to uint8, the model,
and the processor's ``post_process_semantic_segmentation`` upsampling; a region's score is its
mean log-softmax written out pixel by pixel, fused by the loop of tests/core/reference.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from glas_adapters.hf import HFSegmenter, explain_segments  # noqa: E402
from glas_adapters.hf.object_pixels import image_pixels  # noqa: E402
from glas_adapters.targets import SegmentExplanation  # noqa: E402
from glas_core import GLASError  # noqa: E402
from tests.core.reference import reference_glas, reference_grid_points  # noqa: E402

torch.set_num_threads(1)
H, W, GRID = 37, 53, 3
SIZE32 = {"height": 32, "width": 32}


def build(name):
    """``(model, processor)`` of a tiny segmenter with 4 classes, in train mode as a config builds it."""
    torch.manual_seed(0)
    if name == "segformer":
        config = transformers.SegformerConfig(num_channels=3, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1],
                                              hidden_sizes=[8, 16], patch_sizes=[7, 3], strides=[4, 2],
                                              num_attention_heads=[1, 2], mlp_ratios=[2, 2], decoder_hidden_size=16,
                                              num_labels=4)
        return (transformers.SegformerForSemanticSegmentation(config),
                transformers.SegformerImageProcessorPil(size=dict(SIZE32)))
    if name == "dpt":
        config = transformers.DPTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=4,
                                        num_attention_heads=2, intermediate_size=16, neck_hidden_sizes=[8, 8, 16, 16],
                                        fusion_hidden_size=16, num_labels=4, backbone_out_indices=[0, 1, 2, 3])
        model = transformers.DPTForSemanticSegmentation(config)
        with torch.no_grad():  # the 0.02-std init lets the pixels barely reach the logits (every score flat)
            for param in model.parameters():
                if param.ndim >= 2:
                    param.normal_(0.0, 0.3)
        return model, transformers.DPTImageProcessorPil(size=dict(SIZE32))
    backbone = transformers.ConvNextConfig(num_channels=3, hidden_sizes=[8, 16, 16, 16], depths=[1, 1, 1, 1],
                                           out_features=["stage1", "stage2", "stage3", "stage4"])
    config = transformers.UperNetConfig(backbone_config=backbone, hidden_size=16, auxiliary_in_channels=16,
                                        auxiliary_channels=8, num_labels=4, use_auxiliary_head=False)
    return (transformers.UperNetForSemanticSegmentation(config),
            transformers.SegformerImageProcessorPil(size=dict(SIZE32)))


FAMILIES = ["segformer", "dpt", "upernet"]


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    return (rng.random((H, W, 3)) * 255).astype(np.uint8)


def processor_logits(model, processor, img_uint8):
    """The processor's preprocessing, the model, and the upsampling of its post-processing, ``(C, H, W)``."""
    with torch.no_grad():
        out = model(**processor(images=img_uint8, return_tensors="pt"))
    segmentation = processor.post_process_semantic_segmentation(out, target_sizes=[(H, W)])[0]
    logits = torch.nn.functional.interpolate(out.logits, size=(H, W), mode="bilinear", align_corners=False)[0]
    assert torch.equal(logits.argmax(0), segmentation)  # what post-processing does after the upsampling
    return logits, segmentation


@pytest.mark.parametrize("name", FAMILIES)
def test_regions_are_the_processors_segmentation_and_one_sweep_explains_them(name, image):
    model, processor = build(name)
    grads = [p.requires_grad for p in model.parameters()]
    before = image.copy()
    model.eval()
    logits, segmentation = processor_logits(model, processor, image)
    hwc, pixels = image_pixels(image)
    with torch.no_grad():
        ours = HFSegmenter(model, processor, hwc)(pixels[None])[0]
    torch.testing.assert_close(ours, logits, atol=1e-5, rtol=0)
    model.train()
    rows = []
    handle = model.register_forward_pre_hook(lambda m, a, k: rows.append(int(k["pixel_values"].shape[0])),
                                             with_kwargs=True)
    try:
        exp = explain_segments(model, processor, image, grid=GRID, batch_size=5)
    finally:
        handle.remove()
    assert isinstance(exp, SegmentExplanation)
    present = sorted(torch.unique(segmentation).tolist())
    assert exp.classes.tolist() == present and len(present) >= 2
    for t, c in enumerate(present):
        np.testing.assert_array_equal(exp.masks[t], (segmentation == c).numpy())
    n_points = GRID * GRID
    assert exp.passes == 2 * n_points + 2 == sum(rows) and len(rows) == 1 + math.ceil((2 * n_points + 1) / 5)
    assert tuple(exp.maps.shape) == (len(present), H, W) and bool(torch.isfinite(exp.maps).all())
    assert all(float(m.max()) > 0 for m in exp.maps)  # the pixels reach every region's score
    assert all(m.training for m in model.modules()) and [p.requires_grad for p in model.parameters()] == grads
    assert np.array_equal(image, before)


def region_probability_by_hand(model, processor, c, mask):
    def score_one(img):
        uint8 = np.round(np.clip(np.asarray(img, dtype=np.float64), 0, 1) * 255).astype(np.uint8)
        z = processor_logits(model, processor, np.moveaxis(uint8, 0, -1))[0].double().numpy()
        total = 0.0
        for i, j in zip(*np.nonzero(mask)):
            total += z[c, i, j] - math.log(sum(math.exp(v) for v in z[:, i, j]))
        return np.array([math.exp(total / mask.sum())])  # the geometric-mean probability of the region
    return score_one


def test_maps_are_the_papers_with_the_processor_on_every_perturbed_image(image):
    model, processor = build("segformer")
    model.eval()
    exp = explain_segments(model, processor, image, grid=GRID, sigma_px=8.0)
    points = reference_grid_points((H, W), (GRID, GRID))
    sig = (8.0, 8.0)
    x = image_pixels(image)[1].numpy()
    for t, c in enumerate(exp.classes[:2]):
        ref = reference_glas(region_probability_by_hand(model, processor, int(c), exp.masks[t]), x, points, sig, sig,
                             sig)[0][0]
        assert float(ref.max() - ref.min()) > 1e-3 * float(ref.max()) > 0
        scale = math.exp(float(exp.result.log_scale[t]))
        np.testing.assert_allclose(exp.maps[t].numpy() * scale, ref, rtol=1e-3, atol=1e-4 * float(ref.max()))


def test_refusals_name_the_fix(image):
    model, processor = build("segformer")
    model.eval()
    _, segmentation = processor_logits(model, processor, image)
    absent = sorted(set(range(4)) - set(torch.unique(segmentation).tolist()))[0]
    cases = [
        (dict(classes=[7]), r"classes must be a class the model has \(0..3\), got 7"),
        (dict(classes=[absent]), r"classes the model finds on this image"),
        (dict(classes=[0], masks=np.ones((1, 32, 32), bool)), r"masks must be \(1, 37, 53\).*got shape \(1, 32, 32\)"),
        (dict(classes=[0], masks=np.zeros((1, H, W), bool)), r"mask 0 with no pixel set"),
    ]
    for kwargs, message in cases:
        with pytest.raises(GLASError, match=message) as info:
            explain_segments(model, processor, image, grid=GRID, **kwargs)
        assert "\n" not in str(info.value)
    with pytest.raises(GLASError, match=r"image must be a uint8 image"):
        explain_segments(model, processor, image.astype(np.float32) / 255, grid=GRID)
