"""The run's environment: torch with a fixed thread count, and the machine line of each table.

Every synthetic and photo benchmark calls :func:`setup_torch` (one thread by default): the
benchmark machine is shared, and single-thread timings are comparable between methods.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any


def setup_torch(threads: int = 1) -> Any:
    """Import torch with ``torch.set_num_threads(threads)`` (1 by default: the machine is shared)."""
    import torch

    torch.set_num_threads(threads)
    return torch


def machine_line() -> str:
    """Processor, core count, torch version and thread count, and today's date."""
    import torch

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch "
            f"{torch.__version__} with {torch.get_num_threads()} thread(s), {time.strftime('%Y-%m-%d')}")
