"""One contract: the call table gives the same shapes, the same maps and the same refusals in every adapter.

Twin models (:mod:`.twins`): a small torch CNN, its ``torch.onnx.export``, and a Keras copy with
the same weights run on each Keras backend (TensorFlow, JAX, torch) in a process of its own. The
HuggingFace column explains a tiny ViT through :class:`glas_adapters.hf.HFImageClassifier` and is
compared with the torch adapter on the same ViT called by hand. Maps agree within 1e-4 of their
peak (float32 models in three frameworks); refusals name the same argument, expect the same thing
and give the same fix.
Threads: one per process (torch.set_num_threads(1), one-thread ONNX Runtime and XLA/TensorFlow).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import glas_adapters  # noqa: E402
import glas_core  # noqa: E402
from glas_adapters import torch as glas_torch  # noqa: E402
from tests.adapters.contract.table import CALLS, H, W, run_table  # noqa: E402
from tests.adapters.contract.twins import torch_twin, torch_weights  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_child.py")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
KERAS_BACKENDS = [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec("keras")
                  and importlib.util.find_spec(b)]
TORCH_FUNCTIONS = {"explain": glas_torch.explain, "explain_recursive": glas_torch.explain_recursive,
                   "explain_multiscale": glas_torch.explain_multiscale}


def _images() -> np.ndarray:
    return np.random.default_rng(0).random((2, 3, H, W)).astype(np.float32)


def _onnx_answers(model, images, tmp) -> dict:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from glas_adapters import onnx as glas_onnx
    from tests.adapters.onnx.exports import export

    path = export(model, torch.from_numpy(images), str(tmp / "twin.onnx"))
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    functions = {name: getattr(glas_onnx, name) for name in TORCH_FUNCTIONS}
    return run_table(functions, session, {"one": images[0], "two": images}, glas_core.to_numpy)


def _keras_answers(backend: str, model, images, tmp) -> dict:
    folder = tmp / backend
    folder.mkdir()
    np.savez(folder / "in.npz", images=images, **{"w_" + k: v for k, v in torch_weights(model).items()})
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(glas_adapters.__file__)))
    env = dict(os.environ, KERAS_BACKEND=backend, **ONE_THREAD,
               PYTHONPATH=os.pathsep.join([package_root, ROOT, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, CHILD, str(folder)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    answers: dict = dict(np.load(folder / "maps.npz"))
    with open(folder / "refused.json") as f:
        answers.update(json.load(f))
    return answers


def _hf_answers() -> tuple[dict, dict]:
    """The HF classifier's answers, and the torch adapter's on the same ViT called by hand."""
    transformers = pytest.importorskip("transformers")
    from glas_adapters.hf import HFImageClassifier

    config = transformers.ViTConfig(image_size=H, patch_size=4, hidden_size=16, num_hidden_layers=1,
                                    num_attention_heads=2, intermediate_size=16, num_labels=5)
    torch.manual_seed(3)
    vit = transformers.ViTForImageClassification(config).eval()
    processor = transformers.ViTImageProcessor(size={"height": H, "width": W}, image_mean=[0.5, 0.4, 0.3],
                                               image_std=[0.2, 0.25, 0.3])
    mean = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)
    std = torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)

    def by_hand(b):
        return vit(pixel_values=(b - mean) / std).logits

    x = {"one": torch.from_numpy(_images()[0]), "two": torch.from_numpy(_images())}
    classifier = HFImageClassifier(vit, processor)
    return (run_table(TORCH_FUNCTIONS, classifier, x, glas_core.to_numpy),
            run_table(TORCH_FUNCTIONS, by_hand, x, glas_core.to_numpy))


@pytest.fixture(scope="module")
def answers(tmp_path_factory) -> dict[str, dict]:
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("contract")
    model, images = torch_twin(), _images()
    x = torch.from_numpy(images)
    found = {"torch": run_table(TORCH_FUNCTIONS, model, {"one": x[0], "two": x}, glas_core.to_numpy),
             "onnx": _onnx_answers(model, images, tmp)}
    for backend in KERAS_BACKENDS:
        found[f"keras/{backend}"] = _keras_answers(backend, model, images, tmp)
    found["hf"], found["hf by hand"] = _hf_answers()
    return found


def _check(answer, expected, where: str) -> None:
    if isinstance(expected, tuple):
        assert not isinstance(answer, str), f"{where}: refused ({answer})"
        assert answer.shape == expected, f"{where}: shape {answer.shape}, the contract says {expected}"
        assert np.all(np.isfinite(answer)) and np.abs(answer).max() > 0, f"{where}: an empty map"
    else:
        assert isinstance(answer, str), f"{where}: answered {getattr(answer, 'shape', answer)}, should refuse"
        assert answer.startswith(expected), f"{where}: {answer!r} does not start with {expected!r}"


def _same_maps(got, want, where: str) -> None:
    err = float(np.abs(np.asarray(got, np.float64) - want).max())
    assert err <= 1e-4 * float(np.abs(want).max()), f"{where}: maps differ by {err:.3g} (peak {np.abs(want).max():.3g})"


@pytest.mark.parametrize("name", list(CALLS))
def test_every_adapter_gives_the_contract_answer(answers, name):
    expected = CALLS[name][-1]
    reference = answers["torch"][name]
    for adapter, table in answers.items():
        _check(table[name], expected, f"{adapter}, {name}")
        if adapter.startswith("hf"):
            continue
        if isinstance(expected, tuple):
            _same_maps(table[name], reference, f"{adapter} vs torch, {name}")
        else:
            assert _refusal(table[name]) == _refusal(reference), (
                f"{adapter} refuses otherwise than torch: {table[name]!r}")
    if isinstance(expected, tuple):
        _same_maps(answers["hf"][name], answers["hf by hand"][name], f"HFImageClassifier vs by hand, {name}")
    else:
        assert _refusal(answers["hf"][name]) == _refusal(answers["hf by hand"][name])


def _refusal(message: str) -> tuple[str, str]:
    """What a refusal says was expected, and its fix; what was received may show other numbers (e.g. the
    span of the first outputs, whose rows depend on an adapter's chunk size)."""
    return message.split(", got ")[0], message.rsplit("; ", 1)[-1]


def test_every_keras_backend_and_onnx_was_in_the_table(answers):
    """The contract is checked where it matters: all three Keras backends are installed in the full env."""
    assert {"torch", "onnx", "hf"} <= set(answers)
    assert [a for a in answers if a.startswith("keras/")], "no Keras backend ran"


def test_the_maps_are_not_all_alike(answers):
    """A contract met by constant maps would mean nothing: targets and images give different maps."""
    table = answers["torch"]
    two = table["two images, targets=[[1, 3], [0, 2]]"]
    assert np.abs(two[0, 0] - two[0, 1]).max() > 1e-3 * np.abs(two).max()  # two classes of one image
    assert np.abs(two[0, 0] - two[1, 0]).max() > 1e-3 * np.abs(two).max()  # two images
    assert np.ptp(table["one image, targets=1"]) > 0
