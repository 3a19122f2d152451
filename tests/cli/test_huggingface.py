"""``glas explain --model DIR`` on local HuggingFace directories: a captioner and a classifier.

Tiny models are built from configs and saved with ``save_pretrained`` (nothing downloaded).
The CLI's output is compared with the adapter called directly on the same model and image,
which checks the loading, the word list and the file layout, not the adapter's math (that is
tests/hf's job).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("matplotlib")

pd = pytest.importorskip("pandas")

from .helpers import assert_maps_match, files_under, run_glas, save_rgb  # noqa: E402


@pytest.fixture()
def picture(tmp_path):
    rng = np.random.default_rng(3)
    return save_rgb(str(tmp_path / "pic.png"), np.round(rng.random((32, 32, 3)) * 255) / 255)


def test_captioner_directory_explains_every_word(tmp_path, capsys, picture):
    toy = pytest.importorskip("glas_adapters.testing.captioner")
    from glas_adapters.cli.image_io import load_image
    from glas_adapters.hf import CaptionExplainer

    tokenizer = toy.make_tokenizer()
    processor = toy.make_image_processor()
    model = toy.make_model(tokenizer, hidden=32, layers=1)
    model.generation_config.max_new_tokens = 6
    # untrained: keep it from ending the caption at once, so it says six (random) words
    model.generation_config.suppress_tokens = [tokenizer.convert_tokens_to_ids(t) for t in toy.SPECIALS]
    folder = tmp_path / "captioner"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    processor.save_pretrained(folder)

    out, maps = tmp_path / "out", tmp_path / "maps.npz"
    run = run_glas(capsys, "explain", picture, "--model", str(folder), "--grid", "2", "--out", str(out),
                   "--save-maps", str(maps), "--quiet", "--device", "cpu", "--batch-size", "16", "--figures")
    assert run.code == 0, run.err
    assert len([f for f in files_under(str(out)) if f.startswith("figures/") and f.endswith(".png")]) == 1
    saved = np.load(maps)
    direct = CaptionExplainer(model, processor, tokenizer=tokenizer).explain(
        load_image(picture), grid=2, batch_size=16, max_new_tokens=6)
    assert list(saved["labels_0"]) == direct.words and len(direct.words) >= 1
    assert saved["saliency_0"].shape == (len(direct.words), 32, 32)
    assert_maps_match(saved["saliency_0"], direct.maps)
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert list(manifest["class_name"]) == direct.words and list(manifest["target"]) == list(range(len(direct.words)))
    stored = np.load(out / manifest["map_file"][0])
    assert_maps_match(np.stack([stored[k] for k in manifest["map_key"]]).astype(np.float64), direct.maps, atol=1e-3)


def test_captioner_refuses_classifier_options(tmp_path, capsys, picture):
    toy = pytest.importorskip("glas_adapters.testing.captioner")
    tokenizer = toy.make_tokenizer()
    folder = tmp_path / "captioner"
    toy.make_model(tokenizer, hidden=32, layers=1).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    toy.make_image_processor().save_pretrained(folder)
    run = run_glas(capsys, "explain", picture, "--model", str(folder), "--target", "1",
                   "--out", str(tmp_path / "out"), "--quiet", "--device", "cpu")
    assert run.code == 2 and "--target/--top-k/--targets-csv must be used with classifiers, got a captioner" in run.err
    assert files_under(str(tmp_path / "out")) == []


def test_image_classifier_directory_uses_its_label_names(tmp_path, capsys, picture):
    import glas_core
    from glas_adapters.cli.image_io import load_image
    from glas_adapters.hf import HFImageClassifier

    config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1,
                                    num_attention_heads=2, intermediate_size=32, num_labels=3,
                                    id2label={0: "apple", 1: "pear", 2: "plum"},
                                    label2id={"apple": 0, "pear": 1, "plum": 2})
    torch.manual_seed(0)
    model = transformers.ViTForImageClassification(config).eval()
    processor = transformers.ViTImageProcessor(size={"height": 32, "width": 32})
    folder = tmp_path / "classifier"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)

    maps = tmp_path / "maps.npz"
    run = run_glas(capsys, "explain", picture, "--model", str(folder), "--target", "plum", "pear", "--grid", "3",
                   "--out", str(tmp_path / "out"), "--save-maps", str(maps), "--quiet", "--device", "cpu")
    assert run.code == 0, run.err
    saved = np.load(maps)
    assert list(saved["targets_0"]) == [2, 1] and list(saved["labels_0"]) == ["plum", "pear"]
    clf = HFImageClassifier(model, processor)
    x = clf.prepare(load_image(picture))
    direct = glas_core.explain(clf.score_fn([2, 1]), x, grid=3)
    assert_maps_match(saved["saliency_0"][:, 0], direct.to_numpy())
