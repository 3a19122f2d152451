"""TensorFlow for the adapter: imported once, with its start-up notices kept off the terminal.

Importing TensorFlow prints notices that are not meant for the person running GLAS: oneDNN's
"custom operations are on", ``cpu_feature_guard``'s instruction list, "Could not find cuda
drivers" and, on machines without a GPU, a ``failed call to cuInit`` "error".  TensorFlow's own
switch, ``TF_CPP_MIN_LOG_LEVEL``, only filters messages logged after its logging has started,
and these come earlier.  :func:`load_tensorflow` therefore

* sets ``TF_CPP_MIN_LOG_LEVEL=2`` (warnings and information off) unless the user set it, and
* applies that level itself to what TensorFlow writes to stderr while it is imported and finds
  its devices: lines below the level are dropped, everything else is written out unchanged.

``TF_ENABLE_ONEDNN_OPTS`` is left alone: it would change results, and silencing its notice
does not need it.  Nothing is filtered once TensorFlow has been imported, and nothing at all
when TensorFlow was already imported before this module.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from types import ModuleType
from typing import IO

#: the level set when the user has not chosen one: errors only
DEFAULT_LOG_LEVEL = "2"
_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
#: absl's log prefix: severity letter, date (MMDD), time (before logging starts: seconds since
#: the epoch), thread id, file:line]
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ [^\]]+\] ")
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
_ABSL_BANNER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
#: the second line of cpu_feature_guard's notice, which has no prefix of its own
_CONTINUATION = "To enable the following instructions:"
_NO_CUDA_DRIVER = "Could not find cuda drivers"
_CUINIT_FAILED = "failed call to cuInit"


def load_tensorflow() -> ModuleType | None:
    """Import TensorFlow quietly (see the module docstring); None when it is not installed."""
    if "tensorflow" in sys.modules:  # already imported (or blocked with None): nothing left to hide
        return sys.modules["tensorflow"]
    os.environ.setdefault(_LEVEL_VARIABLE, DEFAULT_LOG_LEVEL)
    capture = _StderrCapture()
    try:
        with capture:
            try:
                import tensorflow
            except ImportError:
                return None
            tensorflow.config.list_physical_devices()  # CUDA is probed here: its notices are captured too
    finally:
        kept = keep_lines(capture.text, log_level())
        if kept:
            sys.stderr.write(kept)
            sys.stderr.flush()
    return tensorflow


def log_level() -> int:
    """The ``TF_CPP_MIN_LOG_LEVEL`` in force (0 when unset or unreadable, as TensorFlow reads it)."""
    try:
        return int(os.environ.get(_LEVEL_VARIABLE, "0"))
    except ValueError:
        return 0


def keep_lines(text: str, level: int) -> str:
    """The part of TensorFlow's start-up output that ``level`` lets through.

    A line logged with severity below ``level`` (INFO 0, WARNING 1, ERROR 2) is dropped, with
    absl's banner that announces such lines.  The ``cuInit`` error is dropped at level 1 and
    above when TensorFlow also reported that the machine has no CUDA driver: there it only says
    that there is no GPU.  Anything else (Python warnings, real errors) is kept.
    """
    if level <= 0:
        return text
    no_driver = _NO_CUDA_DRIVER in text
    kept = []
    for line in text.splitlines(keepends=True):
        match = _ABSL_LINE.match(line)
        if line.strip() == _ABSL_BANNER or line.startswith(_CONTINUATION):
            continue
        if match is not None:
            if _SEVERITY[match.group(1)] < level:
                continue
            if no_driver and _CUINIT_FAILED in line:
                continue
        kept.append(line)
    return "".join(kept)


class _StderrCapture:
    """Send file descriptor 2 (what C++ libraries write to) to a temporary file for a while.

    Where descriptor 2 cannot be redirected (closed, or no descriptors at all), nothing is
    captured and the output goes where it would have gone.
    """

    def __init__(self) -> None:
        self.text = ""
        self._file: IO[bytes] | None = None
        self._saved: int | None = None

    def __enter__(self) -> _StderrCapture:
        try:
            sys.stderr.flush()
            self._file = tempfile.TemporaryFile()
            self._saved = os.dup(2)
            os.dup2(self._file.fileno(), 2)
        except (OSError, ValueError):
            self._restore()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is None:
            return
        assert self._file is not None  # set before self._saved, closed with it
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        self._file.seek(0)
        self.text = self._file.read().decode("utf-8", errors="replace")
        self._restore()

    def _restore(self) -> None:
        if self._saved is not None:
            os.dup2(self._saved, 2)
            os.close(self._saved)
            self._saved = None
        if self._file is not None:
            self._file.close()
            self._file = None
