"""Twin models: one small CNN in PyTorch, and the same weights in Keras (channels last).

The network is conv -> ReLU -> conv -> ReLU -> global average pool -> dense, so no flatten order
differs between the layouts; the Keras copy takes the torch weights transposed to its own.
"""

from __future__ import annotations

import numpy as np


def torch_twin(seed: int = 0):
    """The torch CNN, ``(N, 3, H, W)`` -> ``(N, 5)`` logits, in eval mode, with seeded weights."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)  # confident enough that the maps differ from target to target
    return model


def torch_weights(model) -> dict[str, np.ndarray]:
    """The torch twin's weights, by layer, as NumPy."""
    return {name.replace(".", "_"): p.detach().numpy().copy() for name, p in model.named_parameters()}


def keras_twin(weights: dict[str, np.ndarray]):
    """The Keras copy of :func:`torch_twin` for ``(N, H, W, 3)`` images."""
    import keras

    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(6, 3, padding="same"),
                              keras.layers.ReLU(), keras.layers.Conv2D(6, 3, padding="same"), keras.layers.ReLU(),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(5)])
    model.set_weights([weights["0_weight"].transpose(2, 3, 1, 0), weights["0_bias"],
                       weights["2_weight"].transpose(2, 3, 1, 0), weights["2_bias"],
                       weights["6_weight"].T, weights["6_bias"]])
    return model
