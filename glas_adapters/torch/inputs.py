"""Captum-style inputs, targets, baselines and extra arguments, split into GLAS examples.

``glas_core.explain`` explains ONE example. A Captum call brings a batch ``(N, C, T)`` of
series, ``(N, C, H, W)`` of images or ``(N, C, D, H, W)`` of volumes (Captum's layout: the
channels first, every later axis spatial), possibly a tuple of such tensors, one target per
example and ``additional_forward_args``. This module slices all of that per example and puts
the pieces back around each perturbed chunk.

Series
------
A 3-axis batch is ``(N, C, T)``, as ``torch.nn.Conv1d`` takes it. A model whose first layer
reads the last axis as channels (an LSTM or a Linear embedding on ``(N, T, C)``), or a Conv1d
given ``(N, T, C)``, would be explained along the wrong axis; :func:`check_series_layout`
refuses that when the first layer's input size says so.

Tuple inputs
------------
The first tensor of the tuple defines the spatial layout. Every entry that is a floating
tensor with the same number of axes and the same spatial size (all axes after the channel
axis) is perturbed with the SAME Gaussian mask: the entries are concatenated along the
channel axis into one example, so one light or shadow falls on all of them at once, and one
map is returned for all of them. Other entries (other sizes, integer tensors such as token
ids or labels) are passed to the model unchanged, repeated for every perturbed row, and get
an all-zero attribution.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from glas_core.errors import fail, quoted

from .diagnose import module_of

_SHAPE_HINT = ("pass a batch of shape (N, C, T), (N, C, H, W) or (N, C, D, H, W); add the batch axis "
               "with x.unsqueeze(0) and a channel axis with x.unsqueeze(1) for grey images and one-channel series")


@dataclass(frozen=True)
class ExampleLayout:
    """How a tensor or tuple of tensors is cut into single GLAS examples.

    Attributes
    ----------
    is_tuple : bool
        The caller passed a tuple (Captum's tuple-in, tuple-out rule).
    inputs : tuple of Tensor
        The entries, each ``(N, ...)``.
    perturbed : tuple of int
        Entries that receive the masks (concatenated along the channel axis).
    channels : tuple of int
        Channels of each perturbed entry, in order.
    n_spatial : int
        1 for series, 2 for images, 3 for volumes (and ``(N, C, T, H, W)`` videos).
    """

    is_tuple: bool
    inputs: tuple[Tensor, ...]
    perturbed: tuple[int, ...]
    channels: tuple[int, ...]
    n_spatial: int

    @property
    def num_examples(self) -> int:
        return int(self.inputs[0].shape[0])

    @property
    def spatial_axes(self) -> tuple[int, ...]:
        """Spatial axes of one example ``(C, *spatial)``: all axes but the channel axis."""
        return tuple(range(-self.n_spatial, 0))

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.inputs[0].shape[2:])

    def example(self, i: int) -> Tensor:
        """Example ``i`` as one ``(C_total, *spatial)`` tensor in the first entry's dtype."""
        first = self.inputs[self.perturbed[0]]
        if len(self.perturbed) == 1:
            return first[i]
        return torch.cat([self.inputs[j][i].to(first.dtype) for j in self.perturbed], dim=0)

    def assembler(self, examples: Sequence[int], extra: tuple[Any, ...],
                  per_example: tuple[bool, ...]) -> Callable[[Tensor, Tensor | None], tuple]:
        """Return ``assemble(batch, owners) -> forward_func positional args`` for ``examples``.

        ``batch`` is ``(B, C_total, *spatial)`` perturbed rows; ``owners`` is None when they
        all belong to ``examples[0]``, else the ``(B,)`` position in ``examples`` of each row's
        example. The untouched entries and the per-example extra arguments of those examples
        are copied once (the model never sees the caller's tensors) and laid out row by row.
        """
        index = torch.tensor(list(examples), dtype=torch.long)

        def take(t: Tensor) -> Tensor:
            return t.index_select(0, index.to(t.device))

        rows = {j: take(t) for j, t in enumerate(self.inputs) if j not in self.perturbed}
        extra_rows = tuple(take(a) if flag else a for a, flag in zip(extra, per_example))
        simple = len(self.inputs) == 1

        def spread(t: Tensor, b: int, owners: Tensor | None) -> Tensor:
            if owners is None:
                return t[:1].expand((b,) + tuple(t.shape[1:]))
            return t.index_select(0, owners.to(t.device))

        def assemble(batch: Tensor, owners: Tensor | None) -> tuple:
            b = int(batch.shape[0])
            tail = tuple(spread(a, b, owners) if flag else a for a, flag in zip(extra_rows, per_example))
            if simple:
                return (batch,) + tail
            pieces = torch.split(batch, list(self.channels), dim=1)
            perturbed = {j: p.to(self.inputs[j].dtype) for j, p in zip(self.perturbed, pieces)}
            args = tuple(perturbed[j] if j in perturbed else spread(rows[j], b, owners)
                         for j in range(len(self.inputs)))
            return args + tail

        return assemble

    def baseline(self, i: int, baselines: tuple[Any, ...]) -> float | Tensor:
        """The perturbation baseline ``b`` of example ``i`` (a float or a tensor broadcastable to it).

        ``baselines`` comes from :func:`format_baselines`: per input, a float, a tensor of one
        example's shape, or a tensor with 1 or N rows (the input's number of axes).
        """
        per_entry = [_example_baseline(baselines[j], self.inputs[j], i) for j in self.perturbed]
        if len(per_entry) == 1:
            return per_entry[0]
        if all(isinstance(b, float) for b in per_entry) and len(set(per_entry)) == 1:
            return per_entry[0]
        dtype = self.inputs[self.perturbed[0]].dtype
        return torch.cat([
            torch.broadcast_to(torch.as_tensor(b, dtype=dtype, device=self.inputs[j].device),
                               tuple(self.inputs[j].shape[1:])).to(dtype)
            for b, j in zip(per_entry, self.perturbed)], dim=0)

    def broadcast(self, maps: Tensor) -> tuple[Tensor, ...]:
        """Spread ``(N, *spatial)`` maps over the channels of every perturbed entry.

        Entries that were not perturbed get zeros. Each output has its entry's shape and
        (floating) dtype, as Captum attributions do.
        """
        out = []
        for j, t in enumerate(self.inputs):
            dtype = t.dtype if t.is_floating_point() else torch.float32
            if j in self.perturbed:
                spread = maps.to(t.device, dtype).unsqueeze(1).expand(tuple(t.shape))
                out.append(spread.contiguous())
            else:
                out.append(torch.zeros(tuple(t.shape), dtype=dtype, device=t.device))
        return tuple(out)


def layout_of(inputs: Any, model: Any = None, input_name: str = "inputs") -> ExampleLayout:
    """Validate Captum-style ``inputs`` (a batch tensor or a tuple of them) and plan the split.

    With ``model`` (the forward function), a series batch is checked against the model's first
    layer (:func:`check_series_layout`); ``input_name`` is the caller's name in that message.
    """
    is_tuple = isinstance(inputs, (tuple, list))
    entries = tuple(inputs) if is_tuple else (inputs,)
    if not entries:
        raise fail("inputs", f"an empty {type(inputs).__name__}", "a tensor or a non-empty tuple of tensors",
                   _SHAPE_HINT)
    for j, t in enumerate(entries):
        if not isinstance(t, Tensor):
            name = f"inputs[{j}]" if is_tuple else "inputs"
            raise fail(name, type(t).__name__, "a torch.Tensor",
                       "convert it with torch.as_tensor(x, dtype=torch.float32)")
    first = entries[0]
    name = "inputs[0]" if is_tuple else "inputs"
    if first.ndim not in (3, 4, 5):
        raise fail(name, f"shape {tuple(first.shape)} ({first.ndim} axes)",
                   "a tensor with 3 axes (N, C, T), 4 axes (N, C, H, W) or 5 axes (N, C, D, H, W)", _SHAPE_HINT)
    if not first.is_floating_point():
        raise fail(name, f"dtype {first.dtype}", "a floating tensor",
                   "convert it, e.g. x.float() / 255 for 8-bit images")
    n = int(first.shape[0])
    for j, t in enumerate(entries[1:], start=1):
        if t.ndim == 0 or int(t.shape[0]) != n:
            raise fail(f"inputs[{j}]", f"shape {tuple(t.shape)}",
                       f"a tensor with {n} rows (one per example, like inputs[0])",
                       "give every tensor of the tuple the same batch axis")
        if t.device != first.device:
            raise fail(f"inputs[{j}]", str(t.device), f"on {first.device} like inputs[0]",
                       "move all inputs to the model's device")
    perturbed = tuple(j for j, t in enumerate(entries)
                      if t.is_floating_point() and t.ndim == first.ndim and t.shape[2:] == first.shape[2:])
    channels = tuple(int(entries[j].shape[1]) for j in perturbed)
    if first.ndim == 3 and model is not None:
        check_series_layout(model, tuple(int(n) for n in first.shape), input_name + name[len("inputs"):])
    return ExampleLayout(is_tuple, entries, perturbed, channels, first.ndim - 2)


#: Layers whose input size names the channel axis of a series.
_FIRST_LAYERS = (torch.nn.Conv1d, torch.nn.Linear, torch.nn.RNNBase)


def first_layer(model: Any) -> torch.nn.Module | None:
    """The first Conv1d, Conv2d, Conv3d, Linear or recurrent layer of ``model``, in registration order.

    ``model`` is a module or a bound method of one. Registration order is the forward order of
    ``nn.Sequential`` and of most models; None for a plain function or a model without such a layer.
    """
    module = module_of(model)
    if module is None:
        return None
    kinds = _FIRST_LAYERS + (torch.nn.Conv2d, torch.nn.Conv3d)
    return next((m for m in module.modules() if isinstance(m, kinds)), None)


def spatial_dims_of(model: Any) -> int:
    """The spatial axes a model's first layer implies: 1 after Conv1d, 3 after Conv3d, else 2 (images)."""
    layer = first_layer(model)
    if isinstance(layer, torch.nn.Conv1d):
        return 1
    if isinstance(layer, torch.nn.Conv3d):
        return 3
    return 2


def _input_size(layer: torch.nn.Module) -> int | None:
    """How many channels (features) a layer reads: Conv1d's in_channels, Linear's in_features, an RNN's input_size."""
    for attribute in ("in_channels", "in_features", "input_size"):
        value = getattr(layer, attribute, None)
        if isinstance(value, int):
            return value
    return None


def check_series_layout(model: Any, shape: tuple[int, ...], name: str = "inputs") -> None:
    """Refuse a ``(N, T, C)`` series given where the adapter reads ``(N, C, T)``.

    The model's first layer says how many channels it reads: a Conv1d whose ``in_channels``
    (an LSTM's ``input_size``) differs from the tensor's axis 1 but equals its last axis means
    the last axis holds the channels, and GLAS would light and shade channels instead of time
    steps. A Linear first layer reads the last axis by design, so it is refused only when
    ``in_features`` equals the last axis, not axis 1, and axis 1 is the longer one (time
    steps outnumber channels; an MLP over the time steps of ``(N, 1, T)`` is fine). A 3-axis
    batch for a model that starts with Conv2d or Conv3d is an example without its batch axis.
    A model given as a plain function is not inspected.
    """
    layer = first_layer(model)
    if isinstance(layer, (torch.nn.Conv2d, torch.nn.Conv3d)):
        kind = type(layer).__name__
        raise fail(name, f"shape {shape} (3 axes, read as a batch of series (N, C, T)) for a model whose first "
                   f"layer is {kind}", f"a batch of {'images (N, C, H, W)' if kind == 'Conv2d' else 'volumes'}",
                   "add the batch axis of a single example with x.unsqueeze(0)")
    if layer is None or not isinstance(layer, _FIRST_LAYERS):
        return
    size = _input_size(layer)
    _, axis1, last = shape
    if size is None or size == axis1 or size != last:
        return
    if isinstance(layer, torch.nn.Linear) and not axis1 > last:
        return
    kind = type(layer).__name__
    raise fail(name, f"shape {shape}, read as (N, C={axis1}, T={last}), while the model's first layer {kind} "
               f"reads {size} channels, the size of the last axis: a channels-last (N, T, C) series",
               "a (N, C, T) series, channels before time steps (Captum's and Conv1d's layout)",
               "pass x.transpose(1, 2); for a model that takes (N, T, C) itself (an LSTM with batch_first, "
               "a Linear embedding), explain lambda x: model(x.transpose(1, 2)) on x.transpose(1, 2)")


def format_baselines(baselines: Any, layout: ExampleLayout, name: str = "baselines") -> tuple[Any, ...]:
    """Baselines (None, a number, a tensor, or a tuple of them) -> one checked entry per input.

    ``name`` is the caller's keyword: Captum's ``baselines`` or the functional ``baseline``.
    Entries of inputs that are not perturbed are passed along unchecked (they are never used).
    """
    n_inputs = len(layout.inputs)
    if baselines is None:
        return (0.0,) * n_inputs
    if isinstance(baselines, (tuple, list)):
        if len(baselines) != n_inputs:
            raise fail(name, f"{len(baselines)} entries",
                       f"a scalar or a tuple with one entry per input ({n_inputs})",
                       "pass a scalar for all inputs or a tuple matching inputs")
        entries = tuple(0.0 if b is None else b for b in baselines)
    else:
        entries = (baselines,) * n_inputs
    entry_name = (lambda j: f"{name}[{j}]") if layout.is_tuple else (lambda j: name)
    return tuple(_check_baseline(b, layout.inputs[j], entry_name(j)) if j in layout.perturbed else b
                 for j, b in enumerate(entries))


def _check_baseline(b: Any, inp: Tensor, name: str) -> float | Tensor:
    """A number as a float, or a tensor (on the input's device) of one example's or the input's shape."""
    if isinstance(b, numbers.Real) and not isinstance(b, bool):
        return float(b)
    if not isinstance(b, Tensor):
        raise fail(name, quoted(b) if isinstance(b, str) else type(b).__name__, "None, a number or a tensor",
                   f"e.g. {name}=0.0 (the paper) or a blurred copy of the input")
    one_example = tuple(inp.shape[1:])
    fix = "pass a tensor of the input's shape or of one example's shape"
    if b.ndim > inp.ndim:
        raise fail(name, f"shape {tuple(b.shape)}", f"broadcastable to the input {tuple(inp.shape)}", fix)
    if b.ndim == inp.ndim and int(b.shape[0]) not in (1, inp.shape[0]):
        raise fail(name, f"shape {tuple(b.shape)}", f"a tensor with 1 or {inp.shape[0]} rows",
                   "pass one baseline for all examples or one per example")
    try:
        torch.broadcast_shapes(tuple(b.shape[1:] if b.ndim == inp.ndim else b.shape), one_example)
    except RuntimeError:
        raise fail(name, f"shape {tuple(b.shape)}", f"broadcastable to one example {one_example}", fix) from None
    return b.to(inp.device)


def _example_baseline(b: float | Tensor, inp: Tensor, i: int) -> float | Tensor:
    """Example ``i``'s row of a checked baseline."""
    if isinstance(b, Tensor) and b.ndim == inp.ndim:
        return b[0] if int(b.shape[0]) == 1 else b[i]
    return b


def format_additional_args(args: Any, num_examples: int) -> tuple[tuple[Any, ...], tuple[bool, ...]]:
    """Captum ``additional_forward_args`` -> (tuple, per-example flags).

    Tensors with one row per example are sliced per example and repeated over the perturbed
    rows; 0-d tensors and non-tensors are passed unchanged.
    """
    if args is None:
        return (), ()
    args = args if isinstance(args, tuple) else (args,)
    flags = []
    for k, a in enumerate(args):
        if isinstance(a, Tensor) and a.ndim > 0:
            if int(a.shape[0]) != num_examples:
                raise fail(f"additional_forward_args[{k}]", f"shape {tuple(a.shape)}",
                           f"a tensor with {num_examples} rows (one per example, as Captum expects)",
                           "pass per-example tensors, or close over shared tensors in a wrapper, "
                           "e.g. lambda x: model(x, table)")
            flags.append(True)
        else:
            flags.append(False)
    return args, tuple(flags)


def format_targets(target: Any, num_examples: int) -> tuple[list[Tensor], bool]:
    """Captum ``target`` -> one ``(1,)`` int64 tensor per example, and whether it was None.

    Accepts None (the model has one output), an int, a 0-d / 1-element tensor (the same
    class for all), or a list / 1-D tensor of N ints (one class per example).
    """
    if target is None:
        return [torch.zeros(1, dtype=torch.long)] * num_examples, True
    fix = ("pass an int (the same class for all examples) or a list / 1-D tensor with one class "
           "per example; to explain several classes at once use glas_adapters.torch.explain")
    if isinstance(target, Tensor):
        if target.is_floating_point() or target.is_complex():
            raise fail("target", f"dtype {target.dtype}", "integer class indices", fix)
        flat = target.detach().reshape(-1).cpu().long()
        if flat.numel() == 1:
            return [flat] * num_examples, False
        if target.ndim != 1 or flat.numel() != num_examples:
            raise fail("target", f"shape {tuple(target.shape)}", f"one class per example ({num_examples})", fix)
        return [flat[i:i + 1] for i in range(num_examples)], False
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        return [torch.tensor([int(target)])] * num_examples, False
    if isinstance(target, list) and all(isinstance(t, numbers.Integral) and not isinstance(t, bool) for t in target):
        if len(target) != num_examples:
            raise fail("target", f"a list of {len(target)}", f"one class per example ({num_examples})", fix)
        return [torch.tensor([int(t)]) for t in target], False
    raise fail("target", quoted(target), "None, an int, a list of ints or an integer tensor", fix)


def format_multi_targets(targets: Any, num_examples: int, batched: bool) -> list[Tensor]:
    """Targets of the functional API -> one ``(T,)`` int64 tensor per example.

    An int or a 1-D sequence / tensor names the same T classes for every example; a 2-D
    ``(N, T)`` nested list or tensor names T classes per example (batches only).
    """
    fix = ("pass an int, a list of class indices (the same for every example) or, for a batch, "
           "an (N, T) nested list / tensor with T classes per example")
    if isinstance(targets, numbers.Integral) and not isinstance(targets, bool):
        return [torch.tensor([int(targets)])] * num_examples
    try:
        arr = targets.detach().cpu() if isinstance(targets, Tensor) else torch.as_tensor(targets)
    except (TypeError, ValueError, RuntimeError):
        raise fail("targets", quoted(targets), "integer class indices", fix) from None
    if arr.is_floating_point() or arr.dtype == torch.bool or arr.is_complex():
        raise fail("targets", f"dtype {arr.dtype}", "integer class indices", fix)
    arr = arr.long()
    if arr.ndim == 0:
        return [arr.reshape(1)] * num_examples
    if arr.ndim == 1 and arr.numel() > 0:
        return [arr] * num_examples
    if arr.ndim == 2 and batched and int(arr.shape[0]) == num_examples and arr.shape[1] > 0:
        return [arr[i] for i in range(num_examples)]
    raise fail("targets", f"shape {tuple(arr.shape)}",
               f"at least one class per example ({num_examples} examples)", fix)
