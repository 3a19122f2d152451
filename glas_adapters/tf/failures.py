"""One clear :class:`GLASError` for an error the user's model raised (eagerly, in tf.function or under jit).

TensorFlow re-raises an error from inside a traced function with the trace prepended ("in
user code: ..."), as a ``StagingError`` when it cannot rebuild the original type, and Keras
adds its own frame and argument listing; the user's own message ends up lines down. Here the
innermost error of the chain is found and its message told on one line, with the shape the
model was called on and the fix; the original error stays chained for the full traceback.
"""

from __future__ import annotations

import re
from typing import Any

from glas_core.errors import GLASError, fail

_BOLD = re.compile(r"\x1b\[1m(.*?)\x1b\[0m", re.S)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_OUT_OF_MEMORY = ("resourceexhausted", "outofmemory", "out of memory", "resource_exhausted")
_LIMIT = 300


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the errors it was raised from or while handling (``__cause__``, else ``__context__``)."""
    chain = [exc]
    while len(chain) < 16:
        nxt = chain[-1].__cause__ or chain[-1].__context__
        if nxt is None or any(nxt is e for e in chain):
            break
        chain.append(nxt)
    return chain


def _clean(text: str) -> str:
    text = _ANSI.sub("", text).split("Arguments received by")[0]
    return " ".join(text.split())


def root_cause(exc: BaseException) -> BaseException:
    """The user's own error behind ``exc``: what the model raised, before TensorFlow and Keras wrapped it.

    Keras highlights the message of the error a layer raised; the error in the chain with that
    message is the user's. Without that mark, the first error that is not TensorFlow's "in user
    code" trace. (The innermost error of the chain can be one Keras handled on the way.)
    """
    chain = _chain(exc)
    marked = next((m.group(1) for e in chain for m in [_BOLD.search(str(e))] if m), None)
    if marked is not None:
        own = _clean(marked)
        return next((e for e in chain if _clean(str(e)) == own), next(e for e in chain if _BOLD.search(str(e))))
    return next((e for e in chain if not str(e).lstrip().startswith("in user code:")), exc)


def one_line(exc: BaseException) -> str:
    """``exc``'s own message on one line: Keras' highlighted part, without trace or argument listing."""
    text = str(exc)
    bold = _BOLD.search(text)
    text = _clean(bold.group(1) if bold else text) or "(no message)"
    return text if len(text) <= _LIMIT else text[:_LIMIT - 3] + "..."


def model_failure(exc: BaseException, batch: Any) -> GLASError:
    """The GLASError for ``exc``, raised by the model on ``batch``; raise it ``from root_cause(exc)``."""
    root = root_cause(exc)
    shape = tuple(int(s) for s in batch.shape)
    dtype = getattr(batch.dtype, "name", None) or str(batch.dtype).replace("torch.", "")
    said = f"{type(root).__name__}: {one_line(root)}"
    if any(k in (type(root).__name__ + " " + str(root)).lower() for k in _OUT_OF_MEMORY):
        fix = "pass a smaller batch_size (fewer perturbed images per model call)"
    else:
        fix = ("check that the model takes channels-last batches of these images (shape, channels, dtype); "
               "call model(images[:1]) to see the error in full (it is chained to this one)")
    return fail("model", f"an error when called on a batch of shape {shape} ({dtype}): {said}",
                "a model that runs on the images", fix)
