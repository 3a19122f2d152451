"""The ``glas`` command: ``glas demo`` and ``glas explain IMAGE_DIR_OR_GLOB ... --out OUT`` (see :mod:`.command`).

Modules: ``command`` (arguments, entry point, one-line errors), ``runs`` (what demo and explain
do), ``report_command`` (``glas report``), ``loading`` (which model a ``--model`` names),
``classifier`` (what every model offers), ``torch_models`` / ``keras_models`` / ``hf_models`` /
``onnx_models`` (one framework each), ``class_names`` and ``data/`` (ImageNet class names).
Folder jobs (sources, output layout, resume, figures, checked atomic writes, image files) are
:mod:`glas_adapters.jobs`, shared with Ray and the report; ``dataset``, ``outputs``,
``figures`` and ``image_io`` here re-export it under their old names.
"""

from glas_adapters.cli.command import main

__all__ = ["main"]
