"""End to end with Keras: train a small CNN on a synthetic localisation task, explain it with GLAS,
play the pointing game, and log GLAS overlays to TensorBoard with GLASCallback during ``fit``.

The task: 32 x 32 grey noise images holding one 8 x 8 coloured patch at a random place; the class
is the patch colour (red / green / blue). The patch is the only evidence, so a faithful map
points into it. Bar (set from the data): the paper's pointing-game accuracy must reach 0.8, far
above the chance rate of a random point landing in the patch (64 / 1024 = 0.0625, computed
below from the masks).

TensorFlow runs on one intra-op and one inter-op thread (the suite shares 2 CPU cores).
"""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
try:
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
except RuntimeError:  # the runtime already started in this process
    pass

from glas_adapters import tf as glas_tf  # noqa: E402
from glas_core.metrics import pointing_game  # noqa: E402

pytestmark = pytest.mark.integration

SIZE, PATCH, N_CLASSES = 32, 8, 3
POINTING_BAR = 0.8
COLOURS = np.eye(3, dtype=np.float32)  # red, green, blue


def make_task(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images (n, 32, 32, 3), labels (n,) and boolean patch masks (n, 32, 32)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.3, 0.7, size=(n, SIZE, SIZE, 1)).repeat(3, axis=-1).astype(np.float32)
    y = rng.integers(0, N_CLASSES, size=n)
    masks = np.zeros((n, SIZE, SIZE), dtype=bool)
    for i in range(n):
        top, left = rng.integers(0, SIZE - PATCH + 1, size=2)
        x[i, top:top + PATCH, left:left + PATCH] = 0.2 + 0.8 * COLOURS[y[i]]
        masks[i, top:top + PATCH, left:left + PATCH] = True
    return x, y, masks


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)  # test-process state: makes the short training reproducible
    x, y, _ = make_task(1200, seed=0)
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.GlobalMaxPooling2D(),
        keras.layers.Dense(N_CLASSES),
    ])
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    return model


def test_pointing_game_on_synthetic_patches(trained):
    x, y, masks = make_task(24, seed=1)
    accuracy = float(np.mean(np.argmax(trained(x, training=False).numpy(), axis=1) == y))
    assert accuracy >= 0.95, f"the model did not learn the task (accuracy {accuracy:.2f})"
    maps = glas_tf.explain(trained, x, list(y), grid=15, batch_size=64)
    chance = float(masks.mean())
    result = pointing_game(list(maps), list(masks), rule="paper")
    print(f"pointing game {result.accuracy:.3f} (bar {POINTING_BAR}, chance {chance:.4f})")
    assert chance < 0.1
    assert result.accuracy >= POINTING_BAR


def _glas_images(log_dir: str) -> dict[int, np.ndarray]:
    """Decoded 'GLAS' images per step from the event files in ``log_dir``."""
    found = {}
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "GLAS":
                    assert value.metadata.plugin_data.plugin_name == "images"  # TensorBoard's Images tab
                    png = tf.make_ndarray(value.tensor)[2]  # [width, height, png bytes, ...]
                    found[event.step] = tf.io.decode_png(png).numpy()
    return found


def test_callback_writes_glas_overlays_to_tensorboard(trained, tmp_path):
    x, y, _ = make_task(200, seed=2)
    val = make_task(4, seed=3)[:2]
    log_dir = str(tmp_path / "logs")
    callback = glas_tf.GLASCallback(val, None, log_dir, every_n_epochs=1, grid=5)
    trained.fit(x, y, epochs=2, batch_size=50, verbose=0, callbacks=[callback])
    images = _glas_images(log_dir)
    assert sorted(images) == [0, 1]
    # the last overlay was drawn with the final weights: it equals one drawn now
    expected = glas_tf.GLASExplainer().explain(val, trained, None, grid=5)
    assert images[1].shape == expected.shape == (2 * SIZE, 2 * SIZE, 3)
    np.testing.assert_array_equal(images[1], expected)
