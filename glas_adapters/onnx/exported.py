"""Exported models on disk, for any framework: written atomically, checksummed, checked against the model.

An export is written to a temporary name in its folder and renamed into place, then its SHA-256
is written beside it (``<file>.sha256``) the same way, so two processes exporting at once never
leave a torn file and a reader that sees a matching checksum sees a whole file; a file whose
checksum does not match (a torn copy, a disk error, an edit) counts as missing. The cache folder
is ``$GLAS_CACHE``, else ``$XDG_CACHE_HOME/glas``, else ``~/.cache/glas``. A session is used only
after its outputs on a check input agree with the framework's own (:data:`TOLERANCE`).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from glas_core.errors import fail, quoted

#: largest |ONNX Runtime - framework| allowed on the check input, relative to the outputs' largest magnitude (>= 1)
TOLERANCE = 1e-4
_CHECKSUM_SUFFIX = ".sha256"
_PROCESS_FOLDER: list[str] = []


def cache_dir() -> str:
    """Where exported models are kept: ``$GLAS_CACHE``, ``$XDG_CACHE_HOME/glas`` or ``~/.cache/glas``."""
    if os.environ.get("GLAS_CACHE"):
        return os.environ["GLAS_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "glas")


def sha256_of(path: str) -> str:
    """The SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_ok(path: str) -> bool:
    """Whether ``path`` exists and matches the SHA-256 written beside it when it was exported."""
    try:
        with open(path + _CHECKSUM_SUFFIX, encoding="ascii") as fh:
            recorded = fh.read().strip()
        return recorded == sha256_of(path)
    except OSError:
        return False


def check_runtime(runtime: Any, framework: str, shown: str) -> str:
    """Refuse a ``runtime`` other than the framework's own name or "onnx" (``shown``: the framework in words)."""
    if runtime not in (framework, "onnx"):
        raise fail("runtime", quoted(runtime), f"{framework!r} or 'onnx'",
                   f"use runtime='onnx' to run the sweep in ONNX Runtime, {framework!r} (the default) for {shown}")
    return str(runtime)


def export_or_refuse(path: str, export: Callable[[str], None], exporter: str, framework: str) -> str:
    """:func:`write_export`, with an exporter's failure told as one GLASError (disk errors raised as they are)."""
    try:
        return write_export(path, export)
    except OSError:
        raise
    except Exception as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise fail("model", f"a model {exporter} cannot export ({reason})", "a model that exports to ONNX",
                   f"explain it with runtime={framework!r}") from exc


def write_export(path: str, export: Callable[[str], None]) -> str:
    """Run ``export(tmp_path)`` and move the file into ``path`` atomically, its checksum beside it.

    The folder is created. A failed export leaves nothing behind and raises what ``export``
    raised.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with stdout_silenced():  # exporters print their graphs from C++ when they fail
            export(tmp)
        checksum = sha256_of(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    sums = f"{path}{_CHECKSUM_SUFFIX}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    with open(sums, "w", encoding="ascii") as fh:
        fh.write(checksum + "\n")
    os.replace(sums, path + _CHECKSUM_SUFFIX)
    return path


@contextlib.contextmanager
def stdout_silenced() -> Iterator[None]:
    """File descriptor 1 sent to the null device (what C++ prints, too), restored afterwards."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def checked_session(path: str, example: np.ndarray, want: np.ndarray, providers: Any = None,
                    session_options: Any = None, fix: str = "explain it with runtime='torch'") -> Any:
    """An ONNX Runtime session of ``path`` whose outputs on ``example`` are ``want`` to :data:`TOLERANCE`.

    Parameters
    ----------
    path
        The exported model: one input, one output.
    example, want
        A check input and the framework's own outputs on it.
    fix
        How to go on without ONNX Runtime, for the messages.

    Raises
    ------
    GLASError
        ONNX Runtime cannot open or run the file, or the outputs disagree by more than
        :data:`TOLERANCE` of their largest magnitude (at least 1).
    """
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(path, session_options, providers=providers or ["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        got = np.asarray(session.run(None, {name: np.ascontiguousarray(example)})[0])
    except Exception as exc:  # ONNX Runtime's own exception types
        reason = " ".join(str(exc).split())[:200]
        raise fail("model", f"an ONNX export that ONNX Runtime cannot run ({reason})", "an export ONNX Runtime runs",
                   fix) from None
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise fail("model", f"an ONNX export whose outputs have shape {got.shape}",
                   f"the model's own output shape {want.shape}", fix)
    scale = max(1.0, float(np.max(np.abs(want))))
    err = float(np.max(np.abs(got.astype(np.float64) - want)))
    if not err <= TOLERANCE * scale:
        raise fail("model", f"an ONNX export whose outputs differ from the model's by {err:.3g} on the check input",
                   f"at most {TOLERANCE:g} of their largest magnitude ({scale:.3g})",
                   f"{fix} (the export does not compute what the model does)")
    return session


def process_folder() -> str:
    """A temporary folder for this process's exports, removed when the process exits."""
    if not _PROCESS_FOLDER:
        folder = tempfile.mkdtemp(prefix="glas-onnx-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _PROCESS_FOLDER.append(folder)
    return _PROCESS_FOLDER[0]


def session_outputs(session: Any, batch: np.ndarray) -> np.ndarray:
    """One run of a one-input, one-output session; its failure told as one GLASError."""
    try:
        return np.asarray(session.run(None, {session.get_inputs()[0].name: batch})[0])
    except Exception as exc:  # ONNX Runtime's own exception types
        reason = " ".join(str(exc).split())[:200]
        raise fail("model", f"an ONNX Runtime run on a batch of shape {batch.shape} that failed ({reason})",
                   "an export that runs on batches of the input's shape", "explain it with runtime='torch'") from None
