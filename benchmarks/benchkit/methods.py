"""The explainers compared by the benchmarks, each as a :class:`Method`.

A method's ``run(module, x, target)`` explains one (C, H, W) torch image for one class and
returns a NumPy (H, W) map. ``module`` is the model wrapped by :class:`benchkit.timing.CountingModel`,
so every forward row is counted. The Captum baselines (Grad-CAM, Occlusion, KernelSHAP) import
Captum when they run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import glas_core

from .rise import rise
from .scoring import probability_fn


@dataclass
class Method:
    """An explainer: ``run(counted_module, x (C,H,W) tensor, target) -> numpy (H, W)``."""

    name: str
    run: Callable[[Any, Any, int], np.ndarray]
    note: str = ""


def glas_result(module: Any, x: Any, target: int, **settings: Any) -> glas_core.GLASResult:
    """GLAS of one (C, H, W) image for ``target`` as its users get it: ``glas_adapters.torch.explain``
    (log-probability scores, Eq. 1-3 in the log domain). ``settings`` are its keywords (grid,
    sigma, sigma_px, mode, batch_size)."""
    from glas_adapters.torch import explain

    return explain(module, x, targets=target, return_result=True, **settings)


def glas_method(name: str, *, grid: int = 15, sigma: float | tuple[float, float, float] | None = None,
                mode: str = "fusion", batch_size: int = 64) -> Method:
    """GLAS through the torch adapter (:func:`glas_result`); ``sigma=None`` is the default (5, 3, 6) grid cells."""
    def run(module, x, target):
        return glas_result(module, x, target, grid=grid, sigma=sigma, mode=mode, batch_size=batch_size).to_numpy()[0]

    s = "(5,3,6)" if sigma is None else f"{sigma}"
    return Method(name, run, f"k={grid}, sigma={s} grid cells, mode={mode}, glas_adapters.torch.explain")


def rise_method(name: str, n_masks: int, *, s: int = 8, p: float = 0.5, batch_size: int = 64) -> Method:
    """RISE with ``n_masks`` masks of ``s`` x ``s`` cells kept with probability ``p``."""
    def run(module, x, target):
        return rise(probability_fn(module, target), x, n_masks=n_masks, s=s, p=p, batch_size=batch_size)[0]

    return Method(name, run, f"N={n_masks}, s={s}, p={p}")


def gradcam_method(layer_getter: Callable[[Any], Any], name: str = "Grad-CAM") -> Method:
    """Captum's LayerGradCam on ``layer_getter(module)``, ReLU, bilinear upsampling to the image."""
    def run(module, x, target):
        from captum.attr import LayerAttribution, LayerGradCam

        layer = layer_getter(module)
        attr = LayerGradCam(module, layer).attribute(x[None], target=target, relu_attributions=True)
        up = LayerAttribution.interpolate(attr, tuple(x.shape[-2:]), interpolate_mode="bilinear")
        return up[0, 0].detach().numpy()

    return Method(name, run, "captum LayerGradCam, last conv layer, ReLU, bilinear upsampling")


def occlusion_method(window: int, stride: int, name: str = "Occlusion", batch_size: int = 64) -> Method:
    """Captum's Occlusion of the softmax output, square window, zero baseline."""
    def run(module, x, target):
        import torch
        from captum.attr import Occlusion

        def fwd(b):
            return module(b).softmax(-1)

        with torch.no_grad():
            attr = Occlusion(fwd).attribute(
                x[None], target=target, sliding_window_shapes=(x.shape[0], window, window),
                strides=(x.shape[0], stride, stride), baselines=0.0, perturbations_per_eval=batch_size)
        return attr[0].sum(0).numpy()

    return Method(name, run, f"captum Occlusion, window {window}, stride {stride}, zero baseline")


def cell_mask(x: Any, cells: int) -> Any:
    """Captum ``feature_mask`` (1, C, H, W) of ``cells`` x ``cells`` superpixels, shared by the channels."""
    import torch

    h, w = x.shape[-2:]
    rows = torch.arange(h) * cells // h
    cols = torch.arange(w) * cells // w
    return (rows[:, None] * cells + cols[None, :])[None, None].expand(1, x.shape[0], h, w)


def kernelshap_method(n_samples: int, cells: int = 8, name: str = "KernelSHAP", batch_size: int = 64) -> Method:
    """Captum's KernelShap of the softmax output over ``cells`` x ``cells`` superpixels, zero baseline."""
    def run(module, x, target):
        import torch
        from captum.attr import KernelShap

        def fwd(b):
            return module(b).softmax(-1)

        with torch.no_grad():
            attr = KernelShap(fwd).attribute(x[None], target=target, feature_mask=cell_mask(x, cells),
                                             n_samples=n_samples, baselines=0.0, perturbations_per_eval=batch_size)
        return attr[0, 0].numpy()

    return Method(name, run, f"captum KernelShap, {cells}x{cells} cells, {n_samples} samples, zero baseline")


def feature_ablation_method(cells: int, name: str = "FeatureAblation", batch_size: int = 64) -> Method:
    """Captum's FeatureAblation of the softmax output: each of ``cells`` x ``cells`` superpixels set to 0 in turn."""
    def run(module, x, target):
        import torch
        from captum.attr import FeatureAblation

        def fwd(b):
            return module(b).softmax(-1)

        with torch.no_grad():
            attr = FeatureAblation(fwd).attribute(x[None], target=target, feature_mask=cell_mask(x, cells),
                                                  baselines=0.0, perturbations_per_eval=batch_size)
        return attr[0, 0].numpy()

    return Method(name, run, f"captum FeatureAblation, {cells}x{cells} cells, zero baseline")
