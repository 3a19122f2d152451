"""Keras quickstart
================

``glas_adapters.tf.explain`` on a Keras CNN trained here in seconds.

The task: 32 x 32 noisy images hold one small square, red (class 0) or blue (class 1), at a
random place; GLAS must point at the square. Run: ``python examples/keras_quickstart.py``
(writes keras_quickstart.png to examples/output/). Needs Keras and TensorFlow:
``pip install "glas-xai[tf]"``.
"""

import sys

import numpy as np

try:
    # the adapter first: it imports TensorFlow with its start-up notices kept off the terminal
    # isort: off
    from glas_adapters import tf as glas_tf
    import keras
    # isort: on
except ImportError as exc:
    sys.exit(f"keras_quickstart.py needs Keras and TensorFlow ({exc.name or exc} is missing): "
             f'pip install "glas-xai[tf]"')

from _output import figure_path  # noqa: E402

from glas_core import viz  # noqa: E402

SIZE, SIDE = 32, 6


def make_images(n, rng):
    """Channels-last noisy images with one red or blue square; images, labels, square corners."""
    x = rng.random((n, SIZE, SIZE, 3)).astype(np.float32) * 0.3
    y = rng.integers(0, 2, n)
    corners = rng.integers(0, SIZE - SIDE, (n, 2))
    for i, ((r, c), label) in enumerate(zip(corners, y)):
        x[i, r:r + SIDE, c:c + SIDE] = 0.0
        x[i, r:r + SIDE, c:c + SIDE, 0 if label == 0 else 2] = 1.0
    return x, y, corners


keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input((SIZE, SIZE, 3)),
    keras.layers.Conv2D(8, 3, padding="same", activation="relu"), keras.layers.MaxPooling2D(),
    keras.layers.Conv2D(16, 3, padding="same", activation="relu"), keras.layers.MaxPooling2D(),
    keras.layers.Flatten(), keras.layers.Dense(2),
])
model.compile(optimizer=keras.optimizers.Adam(3e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
x_train, y_train, _ = make_images(4000, np.random.default_rng(0))
model.fit(x_train, y_train, batch_size=64, epochs=2, verbose=0)   # seconds on one CPU core

x, y, corners = make_images(8, np.random.default_rng(1))
print(f"accuracy on 8 new images: {(model.predict(x, verbose=0).argmax(1) == y).mean():.2f}")

# --- GLAS on a Keras model: (N, H, W, C) images in, (N, H, W) maps out ---------------------
maps = glas_tf.explain(model, x, targets=y.tolist(), grid=8, sigma=1.0)
# -------------------------------------------------------------------------------------------

hits = 0
for i in range(len(x)):
    r, c = np.unravel_index(int(maps[i].argmax()), (SIZE, SIZE))
    hits += int(corners[i, 0] <= r < corners[i, 0] + SIDE and corners[i, 1] <= c < corners[i, 1] + SIDE)
print(f"pointing game: {hits}/{len(x)} maps peak on the square")
path = figure_path("keras_quickstart.png")
viz.overlay(x[0], maps[0], title=f"class {int(y[0])}: GLAS").savefig(path)
print(f"wrote {path}")
