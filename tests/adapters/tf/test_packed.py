"""Several images are explained in one packed stream: full chunks, the per-image maps bit for bit.

The chunk sizes are chosen equal for the packed and the per-image sweeps (3 x 19 rows at
batch_size 10 and 19 rows alone both give chunks of 10): TensorFlow's CPU kernels may round a
row differently in batches of other sizes, which is no property of the packing.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from glas_adapters import tf as glas_tf
from glas_adapters.tf.scoring import balanced_chunk
from tests.adapters.tf.tiny_keras import images, keras, tf, tiny_cnn

SHAPE = (9, 11, 3)
ROWS = 2 * 3 * 3 + 1  # grid 3


class CountRows(keras.layers.Layer):
    """Counts the calls and the rows it is called on (the test's own state, kept in variables)."""

    def build(self, input_shape):
        self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False, dtype="int64")
        self.rows = self.add_weight(shape=(), initializer="zeros", trainable=False, dtype="int64")

    def call(self, inputs):
        self.calls.assign_add(1)
        self.rows.assign_add(keras.ops.cast(keras.ops.shape(inputs)[0], "int64"))
        return inputs


@pytest.fixture(scope="module")
def counted():
    counter = CountRows()
    model = keras.Sequential([keras.Input(SHAPE), counter, tiny_cnn(SHAPE, 4, seed=31)])
    return model, counter


def test_packed_maps_equal_per_image_maps_bit_for_bit(counted):
    model, _ = counted
    x = images(3, SHAPE, seed=32)
    classes = [[0, 3], [2, 2], [1, 0]]  # several classes, different per image
    packed = glas_tf.explain(model, x, classes, grid=3, batch_size=10)
    assert balanced_chunk(3 * ROWS, 10) == balanced_chunk(ROWS, 10) == 10
    for i in range(3):
        np.testing.assert_array_equal(packed[i], glas_tf.explain(model, x[i], [classes[i]], grid=3, batch_size=10))
    multi = glas_tf.explain_multiscale(model, x, [0, 2, 1], grid=3, sigmas=[2.0, 1.0], batch_size=10)
    for i, cls in enumerate([0, 2, 1]):
        for j, s in enumerate([2.0, 1.0]):
            np.testing.assert_array_equal(multi[i, j],
                                          glas_tf.explain(model, x[i], cls, grid=3, sigma=s, batch_size=10))


def test_packed_calls_are_full_chunks(counted):
    model, counter = counted
    n, batch_size = 5, 16
    calls, rows = int(counter.calls.numpy()), int(counter.rows.numpy())
    done = []
    glas_tf.explain(model, images(n, SHAPE, seed=33), 1, grid=3, batch_size=batch_size,
                    progress=lambda d, t: done.append((d, t)))
    chunk = balanced_chunk(n * ROWS, batch_size)
    sweep_calls = math.ceil(n * ROWS / chunk)
    # the 95 rows in 6 calls of 16 (the last one padded); a given class needs no clean pass
    assert int(counter.calls.numpy()) - calls == sweep_calls == 6
    assert int(counter.rows.numpy()) - rows == sweep_calls * chunk
    calls, rows = int(counter.calls.numpy()), int(counter.rows.numpy())
    glas_tf.explain(model, images(n, SHAPE, seed=33), None, grid=3, batch_size=batch_size)
    # targets=None: one clean pass over the 5 images first, to read each one's predicted class
    assert int(counter.calls.numpy()) - calls == 1 + sweep_calls
    assert int(counter.rows.numpy()) - rows == n + sweep_calls * chunk
    # one progress stream over every image's rows
    assert done[-1] == (n * ROWS, n * ROWS) and len(done) == sweep_calls


def test_tensor_images_are_packed_too():
    model = tiny_cnn(SHAPE, 4, seed=34)
    x = images(2, SHAPE, seed=35)
    np.testing.assert_array_equal(glas_tf.explain(model, tf.constant(x), [1, 3], grid=3).numpy(),
                                  glas_tf.explain(model, x, [1, 3], grid=3))
