"""glas_adapters.hf.explain_detections on tiny detectors of every family, built from configs offline.

The references run the processor itself (Pillow resize, rescale, normalise, pad) on each
perturbed image rounded to uint8, the model, and the processor's own post-processing; the
D-RISE similarity is a Python max over the detections, fused by the loop of
tests/core/reference.py. Nothing of the adapter's torch rebuild or scoring is reused.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("scipy")

from glas_adapters.hf import HFDetector, explain_detections  # noqa: E402
from glas_adapters.hf.object_pixels import image_pixels  # noqa: E402
from glas_adapters.targets import DetectionExplanation  # noqa: E402
from glas_core import GLASError  # noqa: E402
from tests.core.reference import reference_glas, reference_grid_points  # noqa: E402

torch.set_num_threads(1)
H, W, GRID = 37, 53, 3
SMALL = {"shortest_edge": 48, "longest_edge": 64}
QUERIES = ["a photo of a cat", "the dog"]
CLIP_WORDS = ["a", "cat", "dog", "photo", "of", "remote", "the"]


def _resnet():
    return transformers.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                     layer_type="basic", out_features=["stage1", "stage2"])


def _detr_config(num_queries=8):
    return dict(use_timm_backbone=False, backbone_config=_resnet(), d_model=16, encoder_layers=1, decoder_layers=1,
                encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=16, decoder_ffn_dim=16,
                num_queries=num_queries, num_labels=3)


def clip_tokenizer():
    """A CLIP BPE tokenizer of a few whole words, from a hand-written vocabulary and merges."""
    chars = sorted(set("".join(CLIP_WORDS)))
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    merges = []
    for word in CLIP_WORDS:
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            merges.append((parts[0], parts[1]))
            vocab.setdefault(parts[0] + parts[1], len(vocab))
            parts = [parts[0] + parts[1]] + parts[2:]
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    return transformers.CLIPTokenizer(vocab=vocab, merges=list(dict.fromkeys(merges)))


def _owl(v2):
    tok = clip_tokenizer()
    text = dict(vocab_size=len(tok), hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                max_position_embeddings=16, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id)
    vision = dict(hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                  patch_size=8)
    if v2:
        model = transformers.Owlv2ForObjectDetection(transformers.Owlv2Config(text_config=text, vision_config=vision,
                                                                              projection_dim=16))
        image_processor = transformers.Owlv2ImageProcessorPil(size={"height": 32, "width": 32})
        return model, transformers.Owlv2Processor(image_processor=image_processor, tokenizer=tok)
    model = transformers.OwlViTForObjectDetection(transformers.OwlViTConfig(text_config=text, vision_config=vision,
                                                                            projection_dim=16))
    image_processor = transformers.OwlViTImageProcessorPil(size={"height": 32, "width": 32},
                                                           crop_size={"height": 32, "width": 32})
    return model, transformers.OwlViTProcessor(image_processor=image_processor, tokenizer=tok)


def build(name):
    """``(model, processor, text_queries)`` of a tiny detector, in train mode as a config builds it."""
    torch.manual_seed(0)
    if name == "detr":
        return (transformers.DetrForObjectDetection(transformers.DetrConfig(**_detr_config())),
                transformers.DetrImageProcessorPil(size=dict(SMALL)), None)
    if name == "conditional_detr":
        config = transformers.ConditionalDetrConfig(**_detr_config(num_queries=40))  # top-100 of 40 x 3 pairs
        return (transformers.ConditionalDetrForObjectDetection(config),
                transformers.ConditionalDetrImageProcessorPil(size=dict(SMALL)), None)
    if name == "yolos":
        config = transformers.YolosConfig(image_size=[32, 64], patch_size=8, hidden_size=16, num_hidden_layers=1,
                                          num_attention_heads=2, intermediate_size=16, num_detection_tokens=5,
                                          num_labels=3)
        return (transformers.YolosForObjectDetection(config),
                transformers.YolosImageProcessorPil(size={"shortest_edge": 32, "longest_edge": 64}), None)
    if name == "rt_detr":
        backbone = transformers.RTDetrResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 16, 16], depths=[1, 1, 1, 1],
                                                   layer_type="basic", out_features=["stage2", "stage3", "stage4"])
        config = transformers.RTDetrConfig(
            backbone_config=backbone, encoder_hidden_dim=16, encoder_in_channels=[16, 16, 16], feat_strides=[8, 16, 32],
            d_model=16, encoder_ffn_dim=16, decoder_ffn_dim=16, encoder_attention_heads=2, decoder_attention_heads=2,
            decoder_layers=1, encoder_layers=1, num_queries=10, num_labels=3, decoder_in_channels=[16, 16, 16],
            num_denoising=0, decoder_n_points=2)
        return (transformers.RTDetrForObjectDetection(config),
                transformers.RTDetrImageProcessorPil(size={"height": 64, "width": 64}), None)
    return (*_owl(name == "owlv2"), QUERIES)


FAMILIES = ["detr", "conditional_detr", "yolos", "rt_detr", "owlvit", "owlv2"]


@pytest.fixture(scope="module")
def image():
    """A uint8 (H, W, 3) image of another size and aspect than the models', so every processor resizes it."""
    rng = np.random.default_rng(0)
    return (rng.random((H, W, 3)) * 255).astype(np.uint8)


def processor_detections(model, processor, img_uint8, queries):
    """The processor's own pipeline: its preprocessing, the model, its post-processing with threshold 0."""
    image_processor = getattr(processor, "image_processor", processor)
    with torch.no_grad():
        if queries is None:
            out = model(**image_processor(images=img_uint8, return_tensors="pt"))
        else:
            out = model(**processor(text=[queries], images=img_uint8, padding=True, return_tensors="pt"))
    return image_processor.post_process_object_detection(out, threshold=0.0, target_sizes=[(H, W)])[0]


class RowCounter:
    """Counts the model's forward calls and the image rows they carry."""

    def __init__(self, model):
        self.calls, self.rows = 0, 0
        self.handle = model.register_forward_pre_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs):
        self.calls += 1
        self.rows += int(kwargs["pixel_values"].shape[0])

    def remove(self):
        self.handle.remove()


@pytest.mark.parametrize("name", FAMILIES)
def test_clean_detections_are_the_processors_own(name, image):
    model, processor, queries = build(name)
    model.eval()
    ref = processor_detections(model, processor, image, queries)
    hwc, pixels = image_pixels(image)
    with torch.no_grad():
        ours = HFDetector(model, processor, hwc, queries)(pixels[None])[0]
    assert ours["boxes"].shape == ref["boxes"].shape and ref["boxes"].shape[0] >= 5
    torch.testing.assert_close(ours["boxes"], ref["boxes"], atol=1e-4, rtol=0)
    torch.testing.assert_close(ours["scores"], ref["scores"], atol=1e-6, rtol=0)
    assert torch.equal(ours["labels"], ref["labels"])


@pytest.mark.parametrize("name", FAMILIES)
def test_one_sweep_gives_one_map_per_detection_and_leaves_model_and_image_alone(name, image):
    model, processor, queries = build(name)  # train mode: run in eval mode, flags given back
    state = {k: v.clone() for k, v in model.state_dict().items()}
    grads = [p.requires_grad for p in model.parameters()]
    before = image.copy()
    model.eval()
    scores = processor_detections(model, processor, image, queries)["scores"]
    model.train()
    second = float(torch.sort(scores, descending=True).values[1])
    counter = RowCounter(model)
    try:
        exp = explain_detections(model, processor, image, min_score=second, max_detections=2, text_queries=queries,
                                 grid=GRID, batch_size=4)
    finally:
        counter.remove()
    assert isinstance(exp, DetectionExplanation)
    n_points = GRID * GRID
    assert exp.passes == 2 * n_points + 2 == counter.rows
    assert counter.calls == 1 + math.ceil((2 * n_points + 1) / 4)  # the clean pass, then chunks of batch_size
    top2 = torch.sort(scores, descending=True).values[:2].numpy()
    np.testing.assert_allclose(exp.scores, top2, atol=1e-6)
    assert tuple(exp.maps.shape) == (2, H, W) and isinstance(exp.maps, torch.Tensor)
    assert bool(torch.isfinite(exp.maps).all()) and float(exp.maps.min()) >= 0
    assert all(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == grads and any(grads)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert np.array_equal(image, before)


def drise_by_hand(model, processor, queries, box, label):
    """``score_one`` of the reference loop: the processor's pipeline on the uint8 image, D-RISE's max by hand."""
    def score_one(img):
        uint8 = np.round(np.clip(np.asarray(img, dtype=np.float64), 0, 1) * 255).astype(np.uint8)
        found = processor_detections(model, processor, np.moveaxis(uint8, 0, -1), queries)
        best = 0.0
        for other, s, lab in zip(found["boxes"].tolist(), found["scores"].tolist(), found["labels"].tolist()):
            w = max(0.0, min(other[2], box[2]) - max(other[0], box[0]))
            h = max(0.0, min(other[3], box[3]) - max(other[1], box[1]))
            union = (other[2] - other[0]) * (other[3] - other[1]) + (box[2] - box[0]) * (box[3] - box[1]) - w * h
            if union > 0 and lab == label:
                best = max(best, w * h / union * s)
        return np.array([best])
    return score_one


@pytest.mark.parametrize("name", ["detr", "owlv2"])
def test_maps_are_the_papers_with_the_processor_on_every_perturbed_image(name, image):
    model, processor, queries = build(name)
    model.eval()
    exp = explain_detections(model, processor, image, min_score=0.0, max_detections=2, text_queries=queries,
                             grid=GRID, sigma_px=8.0)
    points = reference_grid_points((H, W), (GRID, GRID))
    sig = (8.0, 8.0)
    x = image_pixels(image)[1].numpy()
    for t in range(2):
        score_one = drise_by_hand(model, processor, queries, exp.boxes[t].tolist(), int(exp.labels[t]))
        ref = reference_glas(score_one, x, points, sig, sig, sig)[0][0]
        assert float(ref.max() - ref.min()) > 1e-3 * float(ref.max()) > 0
        np.testing.assert_allclose(exp.maps[t].numpy(), ref, rtol=1e-3, atol=1e-4 * float(ref.max()))


def test_refusals_name_the_fix(image):
    model, processor, _ = build("detr")
    model.eval()
    best = float(processor_detections(model, processor, image, None)["scores"].max())
    cases = [
        (dict(min_score=0.99), rf"highest score was {best:.4g}"),
        (dict(boxes=[[0, 0, 60, 10]], labels=[0]), r"box 0 = \[0.0, 0.0, 60.0, 10.0\] outside the 37x53 image"),
        (dict(boxes=[[20, 5, 10, 15]], labels=[0]), r"x2 < x1"),
        (dict(boxes=[[0.1, 0.1, 0.5, 0.5]], labels=[0]), r"coordinates in \[0, 1\].*multiply normalised boxes"),
        (dict(boxes=[[5, 5, 30, 30]], labels=[3]), r"labels must be a class the model has \(0..2\), got 3"),
        (dict(text_queries=["a cat"]), r"text_queries must be None for DetrForObjectDetection"),
    ]
    for kwargs, message in cases:
        with pytest.raises(GLASError, match=message) as info:
            explain_detections(model, processor, image, grid=GRID, **kwargs)
        assert "\n" not in str(info.value)
    with pytest.raises(GLASError, match=r"image must be a uint8 image.*astype\(np.uint8\)"):
        explain_detections(model, processor, image / 255.0, grid=GRID)
    nearest = transformers.DetrImageProcessorPil(size=dict(SMALL), resample=0)
    with pytest.raises(GLASError, match=r"resample=NEAREST"):
        explain_detections(model, nearest, image, grid=GRID)


def test_owl_without_text_queries_or_tokenizer_is_refused(image):
    model, processor, _ = build("owlv2")
    with pytest.raises(GLASError, match=r"text_queries must be the objects to look for.*text_queries=\["):
        explain_detections(model, processor, image, grid=GRID)
    with pytest.raises(GLASError, match=r"processor must be the OWL processor with its tokenizer"):
        explain_detections(model, processor.image_processor, image, text_queries=QUERIES, grid=GRID)
    with pytest.raises(GLASError, match=r"labels must be a class the model has \(0..1\), got 2"):
        explain_detections(model, processor, image, text_queries=QUERIES, boxes=[[5, 5, 30, 30]], labels=[2],
                           grid=GRID)


def test_pillow_resize_is_rebuilt_bit_for_bit():
    """Pillow itself on uint8 images of random sizes, every filter the processors use, up and down."""
    from PIL import Image

    from glas_adapters.hf.resample import pil_pass_orders, pil_resize

    rng = np.random.default_rng(3)
    for _ in range(40):
        h_in, w_in, h_out, w_out = (int(v) for v in rng.integers(3, 60, 4))
        img = (rng.random((h_in, w_in, 3)) * 255).astype(np.uint8)
        resample = int(rng.choice([1, 2, 3, 4, 5]))
        expected = np.asarray(Image.fromarray(img).resize((w_out, h_out), resample=resample)).astype(np.float64)
        values = torch.from_numpy(img).permute(2, 0, 1)[None].double()
        misses = [np.abs(expected - pil_resize(values, (h_out, w_out), resample, order)[0].permute(1, 2, 0).numpy())
                  .max() for order in pil_pass_orders()]
        assert min(misses) == 0, (h_in, w_in, h_out, w_out, resample, misses)
