"""The contract's call table through ``glas_adapters.tf`` on one Keras backend, in a process of its own.

``python keras_child.py DIR`` (with ``KERAS_BACKEND`` set) reads the twin model's weights and the
images from ``DIR/in.npz`` and writes each call's maps to ``DIR/maps.npz`` and each refusal to
``DIR/refused.json``.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

DIR = sys.argv[1]

from glas_adapters import tf as glas_tf  # noqa: E402  (before Keras, as users import it)

# isort: split
import keras  # noqa: E402

import glas_core  # noqa: E402
from tests.adapters.contract.table import run_table  # noqa: E402
from tests.adapters.contract.twins import keras_twin  # noqa: E402

assert keras.backend.backend() == os.environ["KERAS_BACKEND"], keras.backend.backend()
if keras.backend.backend() == "torch":
    import torch

    torch.set_num_threads(1)

given = dict(np.load(os.path.join(DIR, "in.npz")))
model = keras_twin({k[2:]: v for k, v in given.items() if k.startswith("w_")})
nhwc = given["images"].transpose(0, 2, 3, 1).copy()
functions = {"explain": glas_tf.explain, "explain_recursive": glas_tf.explain_recursive,
             "explain_multiscale": glas_tf.explain_multiscale}
answers = run_table(functions, model, {"one": nhwc[0], "two": nhwc}, glas_core.to_numpy)
np.savez(os.path.join(DIR, "maps.npz"), **{k: v for k, v in answers.items() if not isinstance(v, str)})
with open(os.path.join(DIR, "refused.json"), "w") as f:
    json.dump({k: v for k, v in answers.items() if isinstance(v, str)}, f)
