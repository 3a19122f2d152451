"""The chunk size of a Keras call: as few model calls as the batch size allows, each as small as they can be.

The model runs on chunks of one fixed size (the last one padded with zero rows), so a compiled
forward is never rebuilt per chunk; how outputs become scores is written once for every
adapter (:mod:`glas_adapters._engine.scores`).
"""

from __future__ import annotations

import math


def balanced_chunk(n_rows: int, batch_size: int) -> int:
    """The smallest chunk that covers ``n_rows`` in as many calls as ``batch_size`` would.

    Padding the last chunk to a fixed size costs forward passes on zeros; 451 rows at
    ``batch_size=64`` take 8 calls either way, but chunks of 57 pad 5 rows instead of 61.
    """
    n_calls = max(1, math.ceil(n_rows / batch_size))
    return max(1, math.ceil(n_rows / n_calls))
