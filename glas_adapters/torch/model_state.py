"""A model in train mode is explained as it is, with a warning, and its state is put back.

In train mode Dropout draws new noise for every row (maps differ between identical calls) and
BatchNorm normalises each chunk with that chunk's own statistics (maps depend on the batch
size and on which rows share a chunk) and updates its running statistics on every forward
pass. The adapter never switches the model to eval mode behind the caller's back: it warns,
naming ``model.eval()``, and restores every buffer (running statistics, batch counters)
after the call, so an explanation never changes the model. The ``training`` flags are never
touched, and no gradient is computed, so the parameters stay as they are.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from .._common import user_stacklevel
from .diagnose import module_of

#: Layers whose output depends on the train/eval mode.
_MODE_DEPENDENT = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm,
                   nn.modules.instancenorm._InstanceNorm)


def mode_dependent_layers(model: nn.Module) -> list[str]:
    """Class names of the submodules in train mode whose output depends on that mode."""
    names = set()
    for m in model.modules():
        if not m.training:
            continue
        if isinstance(m, nn.modules.instancenorm._InstanceNorm) and not m.track_running_stats:
            continue  # instance statistics either way
        inner_dropout = isinstance(m, (nn.RNNBase, nn.MultiheadAttention)) and float(m.dropout or 0.0) > 0
        if isinstance(m, _MODE_DEPENDENT) or inner_dropout:
            names.add(type(m).__name__)
    return sorted(names)


@contextmanager
def model_state_kept(forward_func: Callable[..., Any]) -> Iterator[None]:
    """Warn about a model in train mode and restore its buffers when the block ends.

    Parameters
    ----------
    forward_func : callable
        The model (an ``nn.Module`` or a bound method of one; other callables are not inspected).
    """
    model = module_of(forward_func)
    if model is None or not any(m.training for m in model.modules()):
        yield
        return
    layers = mode_dependent_layers(model)
    if layers:
        warnings.warn(
            f"the model is in train mode ({', '.join(layers)} in training mode): Dropout gives different maps "
            "for identical calls and BatchNorm makes the maps depend on which rows share a batch; call "
            "model.eval() before explaining. The model was explained as it is and its running statistics "
            "are restored afterwards.", UserWarning, stacklevel=user_stacklevel())
    saved = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, copy in saved:
                buffer.copy_(copy)
