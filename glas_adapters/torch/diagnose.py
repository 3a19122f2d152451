"""Turn a model's failure on its first rows into one clear error, when its cause is plain.

Two mistakes make PyTorch raise from deep inside the model: images whose channel count is not
the one the first convolution takes (a grey or RGBA image for an RGB model, or channels-last
images), and inputs whose dtype is not the model's (float64, float16 or bfloat16 images for a
float32 model). The adapter does not cast inputs or guess channels: the precision and the
pixels are the caller's choice, so both are refused with the fix.

The diagnosis runs only after the forward call has failed, so a model that accepts the input
(autocast, a model that converts inside ``forward``) is never refused by it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from glas_core.errors import GLASError, fail


def module_of(forward_func: Callable[..., Any]) -> nn.Module | None:
    """The ``nn.Module`` behind a forward function: the module itself or a bound method of one."""
    if isinstance(forward_func, nn.Module):
        return forward_func
    owner = getattr(forward_func, "__self__", None)
    return owner if isinstance(owner, nn.Module) else None


def explain_forward_failure(forward_func: Callable[..., Any], args: tuple, error: Exception,
                            input_name: str) -> GLASError | None:
    """A :class:`GLASError` naming the cause of ``error``, or None when the cause is not plain.

    Parameters
    ----------
    forward_func : callable
        The model that raised.
    args : tuple
        Its positional arguments; the first is the perturbed batch.
    error : Exception
        What it raised.
    input_name : str
        The caller's name for the images (``inputs`` or ``x``).
    """
    model = module_of(forward_func)
    batch = args[0] if args and isinstance(args[0], Tensor) else None
    if model is None or batch is None or not isinstance(error, RuntimeError):
        return None
    text = str(error)
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if len(dtypes) == 1 and batch.dtype not in dtypes and "type" in text:
        want = next(iter(dtypes))
        return fail(input_name, f"dtype {batch.dtype}", f"{want}, the dtype of the model's parameters",
                    f"convert the input, e.g. {input_name}.to({want}), or the model, e.g. model.to({batch.dtype}); "
                    "inputs are not cast for you, so the map is computed at the precision you choose")
    conv = next((m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)), None)
    if conv is None or "channel" not in text or batch.ndim < 3:
        return None
    channels, got = int(conv.in_channels), int(batch.shape[1])
    if channels <= 0 or channels == got:
        return None
    return fail(input_name, f"{got} channels (examples of shape {tuple(batch.shape[1:])})",
                f"images with {channels} channels, as the model's first convolution takes",
                _channel_fix(batch, channels, input_name))


def _channel_fix(batch: Tensor, want: int, name: str) -> str:
    got = int(batch.shape[1])
    if int(batch.shape[-1]) == want:
        order = ", ".join(["0", str(batch.ndim - 1)] + [str(a) for a in range(1, batch.ndim - 1)])
        return f"the images look channels-last: pass {name}.permute({order})"
    if got == 1 and want == 3:
        rest = ", ".join(["-1"] * (batch.ndim - 2))
        return f"repeat the grey channel: {name}.expand(-1, 3, {rest})"
    if got == 4 and want == 3:
        return f"drop the alpha channel: {name}[:, :3]"
    return f"give the model images with the {want} channels it was trained on"
