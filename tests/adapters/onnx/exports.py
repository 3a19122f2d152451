"""PyTorch models exported to ONNX inside the tests with ``torch.onnx.export`` (the TorchScript-based
exporter, ``dynamo=False``: the newer one needs onnxscript, which the project does not install)."""

from __future__ import annotations

import warnings

import torch


class ChannelsLast(torch.nn.Module):
    """``model`` fed ``(N, H, W, C)`` images: the transpose is part of the exported graph."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.permute(0, 3, 1, 2))


def export(model: torch.nn.Module, example: torch.Tensor, path: str, dynamic_batch: bool = True) -> str:
    """Export ``model`` (in eval mode) with input ``pixels`` and output ``logits``.

    ``dynamic_batch=False`` fixes the batch axis to ``example``'s batch size (e.g. 1).
    """
    axes = {"pixels": {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings():  # the exporter's deprecation notice about itself
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (example,), path, dynamo=False, input_names=["pixels"],
                          output_names=["logits"], dynamic_axes=axes)
    return path
