"""The single exception type of glas."""

from __future__ import annotations


class GLASError(ValueError):
    """Raised for bad input or bad model output.

    Every message names the argument, what was received, what was expected
    and how to fix it, e.g. ``grid must be a positive int or a tuple of
    positive ints, got 0; use grid=15 (the paper's default)``.
    """


def fail(argument: str, received: object, expected: str, fix: str) -> GLASError:
    """Build a :class:`GLASError` with the project's message layout.

    Parameters
    ----------
    argument : str
        Name of the offending argument (or ``"score_fn output"``).
    received : object
        What was received; rendered with ``repr`` unless it is a string.
    expected : str
        What was expected instead.
    fix : str
        How the caller can fix it.
    """
    shown = received if isinstance(received, str) else repr(received)
    return GLASError(f"{argument} must be {expected}, got {shown}; {fix}")


def quoted(value: object) -> object:
    """A user's value for :func:`fail`: strings quoted (``grid='4'``), anything else as it is.

    ``fail`` shows a string as it stands, since most callers pass a description
    (``"shape (3,)"``); a value the user typed must be told apart from one, so ``'4'`` reads
    as the string it is.
    """
    return repr(value) if isinstance(value, str) else value
