"""Maps you can trust, on the Keras path: right or refused with one clear GLASError.

Log-probabilities keep maps informative where float32 (or float16) probabilities underflow or
round to 1; bad inputs and models that fail are refused on one line naming the fix.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import glas_core
from glas_adapters import tf as glas_tf
from glas_core import GLASError
from tests.adapters.tf.tiny_keras import images, keras, paper_scale, reference_map, tf, tiny_cnn

SHAPE = (10, 10, 3)


def _one_line_error(call, *words):
    """``call()`` raises a one-line GLASError containing every word; returns the error."""
    with pytest.raises(GLASError) as info:
        call()
    text = str(info.value)
    assert "\n" not in text, text
    for word in words:
        assert word in text, (word, text)
    return info.value


# ------------------------------------------------------------------------ scores in the log domain
def test_probabilities_that_underflow_in_float32_still_give_the_float64_map():
    """Class 0 has a probability between 1e-130 and 1e-87 under every perturbation: exactly 0 in
    float32 everywhere, so float32 probabilities give an all-zero map; the adapter's
    log-probabilities give the map of a float64 reference."""
    shape = (12, 12, 1)
    weights = np.zeros((144, 2), np.float32)
    patch = np.zeros((12, 12), bool)
    patch[4:8, 6:10] = True
    weights[:, 1] = np.where(patch.ravel(), 5.0, 0.2)  # class 1 wins by 200 + its evidence
    model = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(2)])
    model.set_weights([weights, np.array([0.0, 200.0], np.float32)])
    x = np.random.default_rng(0).uniform(0.7, 1.0, (1, *shape)).astype(np.float32)

    reference = reference_map(model, x[0], 0, (3, 3), (1.0, 1.0, 1.0))  # float64 probabilities
    assert 0 < reference.max() < 1e-80
    result = glas_tf.explain(model, x, 0, grid=3, sigma=1.0, return_result=True)[0]
    got = result.to_numpy()[0]
    np.testing.assert_allclose(got / got.max(), reference / reference.max(), rtol=0, atol=1e-5)
    assert float(result.log_scale[0]) < -150  # the factor the map was divided by: far below float32

    with warnings.catch_warnings():  # what float32 probabilities give: nothing
        warnings.simplefilter("ignore", RuntimeWarning)
        flat = glas_tf.explain(model, x, 0, grid=3, sigma=1.0, probabilities=lambda z: tf.nn.softmax(z))
    assert not np.any(flat)


def test_half_precision_outputs_are_scored_in_float32():
    """A float16 head: a float16 softmax rounds the winning class to 1 under every shadow, so every
    f_s equals lambda; the adapter's float32 log-probabilities keep the map of a float64 reference."""
    model = keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(3, dtype="float16")])
    rng = np.random.default_rng(3)
    model.set_weights([(0.6 * rng.standard_normal(w.shape)).astype(np.float32) for w in model.get_weights()])
    x = images(1, SHAPE)
    assert model(x).dtype == "float16"
    cls = int(np.argmax(model(x).numpy()))
    result = glas_tf.explain(model, x, cls, grid=3, return_result=True)
    shadow = glas_core.to_numpy(result[0].shadow_scores)
    assert np.ptp(shadow) > 1e-8  # the shadows change the score
    reference = reference_map(model, x[0], cls, (3, 3), (5.0, 3.0, 6.0))
    np.testing.assert_allclose(paper_scale(result)[0, 0], reference, rtol=0, atol=1e-5 * reference.max())

    # a callable's probabilities are fused as probabilities (no log_scale): this over-confident head
    # saturates them under every shadow, even in float32, which is why logits are scored in the log domain
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        given = glas_tf.explain(model, x, cls, grid=3, probabilities=lambda z: keras.ops.softmax(z),
                                return_result=True)
    assert given[0].log_scale is None and np.ptp(glas_core.to_numpy(given[0].shadow_scores)) < 1e-6


# ------------------------------------------------------------------------ inputs refused
@pytest.mark.parametrize("dtype", [np.uint8, np.int32])
def test_integer_images_are_refused_as_the_torch_adapter_does(dtype):
    model = tiny_cnn(SHAPE, 3)
    x = (images(1, SHAPE) * 255).astype(dtype)
    _one_line_error(lambda: glas_tf.explain(model, x, 0, grid=3), f"dtype {np.dtype(dtype).name}",
                    "astype('float32') / 255")
    _one_line_error(lambda: glas_tf.explain(model, tf.constant(x), 0, grid=3), f"dtype {np.dtype(dtype).name}")


def test_a_ragged_list_of_images_is_refused():
    model = tiny_cnn(SHAPE, 3)
    ragged = [images(1, SHAPE)[0], images(1, (12, 10, 3))[0]]
    _one_line_error(lambda: glas_tf.explain(model, ragged, 0, grid=3), "different shapes", "(10, 10, 3), (12, 10, 3)",
                    "resize them to one size")
    # a list of equally sized images is one batch
    same = [images(1, SHAPE, seed=s)[0] for s in (1, 2)]
    np.testing.assert_array_equal(glas_tf.explain(model, same, 0, grid=3),
                                  glas_tf.explain(model, np.stack(same), 0, grid=3))


def test_a_model_with_two_inputs_is_refused_with_the_wrapper_to_write():
    image_in, extra_in = keras.Input(SHAPE, name="image"), keras.Input((2,), name="extra")
    joined = keras.layers.Concatenate()([keras.layers.Flatten()(image_in), extra_in])
    model = keras.Model([image_in, extra_in], keras.layers.Dense(3)(joined))
    x = images(2, SHAPE)
    _one_line_error(lambda: glas_tf.explain(model, x, 0, grid=3), "2 inputs ('image', 'extra')", "wrap it",
                    "lambda x: model([x,")
    # the wrapper it names works
    extra = np.array([[0.5, -1.0]], np.float32)
    maps = glas_tf.explain(lambda b: model([b, keras.ops.repeat(extra, b.shape[0], axis=0)]), x, 0, grid=3)
    assert maps.shape == (2, 10, 10) and np.ptp(maps) > 0


@pytest.mark.parametrize("channels, fix", [(4, "images[..., :3]"), (1, "np.repeat(images, 3, axis=-1)")])
def test_images_with_other_channels_than_the_model_are_refused(channels, fix):
    model = tiny_cnn(SHAPE, 3)
    x = images(1, (10, 10, channels))
    _one_line_error(lambda: glas_tf.explain(model, x, 0, grid=3), f"{channels} channels", "3 channels", fix)
    _one_line_error(lambda: glas_tf.explain(model, images(1, (12, 10, 3)), 0, grid=3), "12 rows",
                    "resize the images to 10 x 10")


# ------------------------------------------------------------------------ models that fail
class RaisingModel(keras.Model):
    """A model whose forward pass raises ``error`` (inside the compiled tf.function)."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.dense = keras.layers.Dense(3)

    def call(self, inputs, training=None):
        if inputs.shape[0] is not None and inputs.shape[0] > 1:
            raise self.error
        return self.dense(keras.ops.reshape(inputs, (-1, int(np.prod(inputs.shape[1:])))))


class UserError(Exception):
    """An exception TensorFlow cannot rebuild (its own constructor): raised as a StagingError."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"layer {a} has no weights for head {b}")


@pytest.mark.parametrize("error, shown", [
    (ValueError("the checkpoint was never loaded"), "ValueError: the checkpoint was never loaded"),
    (UserError(3, 7), "UserError: layer 3 has no weights for head 7"),
])
def test_an_error_inside_the_compiled_model_is_told_on_one_line(error, shown):
    model = RaisingModel(error)
    x = images(3, SHAPE)
    model(x[:1])  # built on one image: the error comes with batches of more (here the first chunk of 8)
    err = _one_line_error(lambda: glas_tf.explain(model, x, 0, grid=3, batch_size=8), shown,
                          "model must be a model that runs on the images", "shape (8, 10, 10, 3)", "model(images[:1])")
    assert err.__cause__ is not None and type(err.__cause__) is type(error)  # the user's own error, chained


def test_a_model_out_of_memory_names_the_batch_size():
    model = RaisingModel(tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape [64,224]"))
    x = images(3, SHAPE)
    model(x[:1])
    _one_line_error(lambda: glas_tf.explain(model, x, 0, grid=3), "ResourceExhaustedError", "OOM when allocating",
                    "smaller batch_size")


def test_a_plain_callable_that_cannot_be_traced_runs_as_it_is():
    """NumPy code or Keras' predict_on_batch cannot run inside tf.function: it is called eagerly."""
    model = tiny_cnn(SHAPE, 3, seed=4)
    x = images(2, SHAPE)
    expected = glas_tf.explain(model, x, [1, 2], grid=3)
    numpy_code = glas_tf.explain(lambda b: np.asarray(model(np.asarray(b), training=False)) * 1.0, x, [1, 2], grid=3)
    np.testing.assert_allclose(numpy_code, expected, rtol=1e-6)
    np.testing.assert_allclose(glas_tf.explain(model.predict_on_batch, x, [1, 2], grid=3), expected, rtol=1e-6)
