"""Min-max normalisation of saliency maps, with the one rule for a flat map used everywhere."""

from __future__ import annotations

from typing import Any

from ._array_api import namespace_of


def minmax_normalize(s: Any) -> Any:
    """Scale a map linearly to [0, 1]; a flat map (max == min) becomes all zeros.

    A flat map carries no evidence for any pixel, so it is shown and used as "nothing is
    salient" rather than "everything is": Recursive GLAS then dims nothing, a display shows
    no heat, and metrics that need a maximum treat it as having none.

    Parameters
    ----------
    s : array
        Any array-API array (NumPy, torch, JAX, ...) or a registered shim's array.

    Returns
    -------
    array
        Same namespace, device, shape and floating dtype as ``s``.
    """
    xp = namespace_of(s)
    lo, hi = xp.min(s), xp.max(s)
    span = float(hi - lo)
    if not span > 0:
        return xp.zeros_like(s)
    return (s - lo) / (hi - lo)
