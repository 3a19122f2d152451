"""Outputs of the command line, Ray jobs and the report: checked before any work, written
atomically (a temporary file beside the target, then a rename: nothing is ever half-written)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

from glas_core.errors import fail


def check_output_dir(path: str) -> str:
    """Create ``path`` if needed and prove it is writable; GLASError otherwise."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise fail("--out", repr(path), "a directory", "it is a file; pick another --out")
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".glas-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise fail("output directory", f"{path!r}, which is not writable ({exc.strerror or exc})",
                   "a writable directory", "pick a writable --out") from None
    return path


def check_output_file(path: str, suffix: str) -> str:
    """Check that ``path`` has ``suffix`` and that its directory is writable."""
    if not path.lower().endswith(suffix):
        raise fail("output file", repr(path), f"a name ending in {suffix}", f"e.g. result{suffix}")
    if os.path.isdir(path):
        raise fail("output file", f"{path!r}, which is a directory", f"a file name ending in {suffix}",
                   f"e.g. {os.path.join(path, 'result' + suffix)}")
    check_output_dir(os.path.dirname(path) or ".")
    return path


def write_atomically(path: str, write: Callable[[Any], None]) -> None:
    """Write through ``write(file)`` into a temporary file beside ``path``, then rename it."""
    directory = os.path.dirname(path) or "."
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".glas-", suffix=".part")
    except OSError as exc:
        raise _unwritable(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual mode
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise _unwritable(path, exc) from None
        raise


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`write_atomically`)."""
    write_atomically(path, lambda f: f.write(data))


def save_figure(fig: Any, path: str, dpi: int = 110) -> None:
    """Save a matplotlib figure as a PNG, atomically."""
    write_atomically(path, lambda f: fig.savefig(f, format="png", dpi=dpi))


def unique_stems(paths: Sequence[str]) -> list[str]:
    """Output names from input file names; numbered when two inputs share a name."""
    stems = [os.path.splitext(os.path.basename(p))[0] or "image" for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    return [f"{i + 1:03d}_{s}" for i, s in enumerate(stems)]


def _unwritable(path: str, exc: OSError) -> Exception:
    return fail("output", f"{path!r}, which cannot be written ({exc.strerror or exc})", "a writable file",
                "pick a writable output")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
