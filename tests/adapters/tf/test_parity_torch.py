"""Parity: one CNN built in PyTorch and in Keras with the same weights gives the same GLAS maps.

Tolerance: maps agree to 5e-5 of their peak value (float32 convolutions of two frameworks
differ in summation order; observed differences are at most 5e-6 of the peak).
Torch runs on one thread (tests share 2 cores).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.adapters.tf.tiny_keras import images, keras, seeded

torch = pytest.importorskip("torch")
glas_torch = pytest.importorskip("glas_adapters.torch")

from glas_adapters import tf as glas_tf  # noqa: E402

PARITY_ATOL = 5e-5  # relative to the peak of the map


def twin_cnns(h: int, w: int, c: int, n_classes: int, seed: int = 0):
    """A Keras CNN with seeded weights and the PyTorch CNN with exactly those weights."""
    keras_model = seeded(keras.Sequential([
        keras.Input((h, w, c)),
        keras.layers.Conv2D(6, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(5, 3, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(n_classes),
    ]), seed)
    k1, b1, k2, b2, dense, bias = keras_model.get_weights()
    torch_model = torch.nn.Sequential(
        torch.nn.Conv2d(c, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 5, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(dense.shape[0], n_classes),
    )
    hp, wp = h // 2, w // 2
    with torch.no_grad():
        # (kh, kw, in, out) -> (out, in, kh, kw)
        torch_model[0].weight.copy_(torch.from_numpy(k1.transpose(3, 2, 0, 1)))
        torch_model[0].bias.copy_(torch.from_numpy(b1))
        torch_model[3].weight.copy_(torch.from_numpy(k2.transpose(3, 2, 0, 1)))
        torch_model[3].bias.copy_(torch.from_numpy(b2))
        # Keras flattens (H, W, C), torch (C, H, W): reorder the rows of the dense kernel
        torch_dense = dense.reshape(hp, wp, 5, n_classes).transpose(2, 0, 1, 3).reshape(-1, n_classes)
        torch_model[6].weight.copy_(torch.from_numpy(np.ascontiguousarray(torch_dense.T)))
        torch_model[6].bias.copy_(torch.from_numpy(bias))
    return keras_model, torch_model.eval()


def test_twin_models_agree_on_logits():
    keras_model, torch_model = twin_cnns(12, 16, 3, 4)
    x = images(3, (12, 16, 3))
    with torch.no_grad():
        torch_logits = torch_model(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    np.testing.assert_allclose(keras_model(x).numpy(), torch_logits, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("grid, sigma", [(5, (5.0, 3.0, 6.0)), ((3, 4), 1.0)])
def test_keras_and_torch_adapters_give_the_same_maps(grid, sigma):
    keras_model, torch_model = twin_cnns(12, 16, 3, 4, seed=1)
    x = images(3, (12, 16, 3), seed=2)
    targets = [0, 3, 1]
    keras_maps = glas_tf.explain(keras_model, x, targets, grid=grid, sigma=sigma, batch_size=16)
    with torch.no_grad():
        torch_maps = glas_torch.GLASAttribution(torch_model).attribute(
            torch.from_numpy(x.transpose(0, 3, 1, 2)), target=targets, grid=grid, sigma=sigma,
            perturbations_per_eval=16)
    torch_maps = torch_maps[:, 0].numpy()  # GLASAttribution broadcasts the map over channels
    assert keras_maps.shape == torch_maps.shape == (3, 12, 16)
    for k, t in zip(keras_maps, torch_maps):
        np.testing.assert_allclose(k, t, rtol=0, atol=PARITY_ATOL * np.abs(t).max())
    # the maps are not flat, so the comparison means something
    assert all(np.ptp(t) > 0.05 * np.abs(t).max() for t in torch_maps)
