"""The ``glas`` command: ``glas demo`` and ``glas explain IMAGE_DIR_OR_GLOB ... --out OUT`` (see :mod:`.command`).

Modules: ``command`` (arguments, entry point, one-line errors), ``runs`` (what demo and explain
do), ``outputs`` (checked, atomic writes), ``dataset`` (folder jobs: sources, output layout,
resume), ``figures`` (PNG panels from downscaled copies), ``image_io`` (image files as RGB arrays),
``loading`` (which model a ``--model`` names), ``classifier`` (what every model offers),
``torch_models`` / ``keras_models`` / ``hf_models`` (one framework each), ``class_names``
and ``data/`` (ImageNet class names).
"""

from glas_adapters.cli.command import main

__all__ = ["main"]
