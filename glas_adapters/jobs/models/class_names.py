"""Class names the command shows for built-in models (shipped as package data)."""

from __future__ import annotations

from importlib import resources

IMAGENET_CLASSES = "data/imagenet_classes.txt"


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in index order."""
    text = resources.files("glas_adapters.jobs.models").joinpath(IMAGENET_CLASSES).read_text(encoding="utf-8")
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) != 1000:  # pragma: no cover - a packaging error, not user input
        raise RuntimeError(f"glas_adapters/jobs/models/{IMAGENET_CLASSES} holds {len(names)} names, expected 1000")
    return names
