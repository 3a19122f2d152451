"""glas_adapters.tf.explain against a naive NumPy reference, and its Keras-facing behaviour.

With ``probabilities="softmax"`` or ``"sigmoid"`` the sweep is scored in log-probabilities, so
each map is the paper's Eq. 3 divided by one positive factor per target, ``exp(log_scale)``:
the comparisons with the reference multiply it back (:func:`paper_maps`).
"""

from __future__ import annotations

import numpy as np
import pytest

import glas_core
from glas_adapters import tf as glas_tf
from glas_adapters.tf import engine_tf, engines, namespace
from glas_core import GLASError
from tests.adapters.tf.tiny_keras import images, keras, np_softmax, paper_scale, reference_map, tf, tiny_cnn


def paper_maps(model, images, targets, **kwargs):
    """Maps of glas_tf.explain on the paper's scale (see :func:`paper_scale`)."""
    return paper_scale(glas_tf.explain(model, images, targets, return_result=True, **kwargs))


def _close(a, b, rtol=1e-4):
    """Maps agree to ``rtol`` of the reference's peak (float32 model vs float64 reference)."""
    np.testing.assert_allclose(a, b, rtol=0, atol=rtol * np.abs(b).max())


# ------------------------------------------------------------------------ against the reference
def test_nonsquare_batch_matches_naive_reference_per_image_class():
    shape = (12, 18, 3)
    model = tiny_cnn(shape, 4, seed=3)
    x = images(2, shape)
    maps = paper_maps(model, x, [2, 0], grid=(3, 4), sigma=(2.0, 1.0, 1.5), batch_size=7)[:, 0]
    assert maps.shape == (2, 12, 18)
    for i, cls in enumerate([2, 0]):
        _close(maps[i], reference_map(model, x[i], cls, (3, 4), (2.0, 1.0, 1.5)))
    # per-image classes really are used: the other class gives a different map
    other = paper_maps(model, x[0], 1, grid=(3, 4), sigma=(2.0, 1.0, 1.5))[0, 0]
    assert np.abs(other - maps[0]).max() > 1e-3 * np.abs(maps[0]).max()


def test_sigmoid_single_output_binary_model_matches_reference():
    shape = (10, 10, 1)
    logit_model = tiny_cnn(shape, 1, seed=5)
    x = images(1, shape, seed=4)
    maps = paper_maps(logit_model, x, 0, grid=3, probabilities="sigmoid")[:, 0]
    _close(maps[0], reference_map(logit_model, x[0], 0, (3, 3), (5.0, 3.0, 6.0), "sigmoid"))
    # the same network with a sigmoid head and probabilities=None (scored in probabilities, no
    # rescaling) gives the same map
    prob_model = tiny_cnn(shape, 1, seed=5, head="sigmoid")
    np.testing.assert_allclose(glas_tf.explain(prob_model, x, grid=3, probabilities=None), maps, rtol=1e-5,
                               atol=1e-6 * np.abs(maps).max())


def test_logits_model_equals_softmax_head_model():
    shape = (8, 12, 3)
    x = images(2, shape)
    logits = paper_maps(tiny_cnn(shape, 3, seed=2), x, 1, grid=4)[:, 0]
    probs_model = tiny_cnn(shape, 3, seed=2, head="softmax")
    probs = glas_tf.explain(probs_model, x, 1, grid=4, probabilities=None)
    np.testing.assert_allclose(logits, probs, rtol=1e-5, atol=1e-6 * np.abs(probs).max())
    with pytest.warns(UserWarning, match="probabilities=None"):
        glas_tf.explain(probs_model, x, 1, grid=4)  # softmax over probabilities: warned


def test_baseline_matches_reference_and_array_baseline_equals_scalar():
    shape = (9, 9, 3)
    model = tiny_cnn(shape, 3, seed=8)
    x = images(1, shape, seed=9)
    maps = paper_maps(model, x, 2, grid=3, baseline=0.5)[:, 0]
    _close(maps[0], reference_map(model, x[0], 2, (3, 3), (5.0, 3.0, 6.0), baseline=0.5))
    np.testing.assert_allclose(paper_maps(model, x, 2, grid=3, baseline=np.full(shape, 0.5, np.float32))[:, 0],
                               maps, rtol=1e-6)


# ------------------------------------------------------------------------ shapes and inputs
def test_single_image_equals_its_row_of_the_batch_and_class_none_is_argmax():
    shape = (11, 7, 3)
    model = tiny_cnn(shape, 5, seed=1)
    x = images(3, shape)
    batch = glas_tf.explain(model, x, grid=3)
    single = glas_tf.explain(model, x[1], grid=3)
    assert single.shape == (11, 7)
    np.testing.assert_allclose(single, batch[1], rtol=1e-6)
    predicted = np.argmax(model(x, training=False).numpy(), axis=1)
    np.testing.assert_allclose(batch, glas_tf.explain(model, x, list(predicted), grid=3), rtol=1e-6)


def test_tensor_input_gives_tensor_maps_and_the_caller_array_is_unchanged():
    shape = (8, 8, 3)
    model = tiny_cnn(shape, 3, seed=4)
    x = images(2, shape)
    before = x.copy()
    maps = glas_tf.explain(model, x, 0, grid=3)
    np.testing.assert_array_equal(x, before)
    assert isinstance(maps, np.ndarray) and np.all(maps.reshape(2, -1).max(axis=1) > 0)
    from_tensor = glas_tf.explain(model, tf.constant(x), 0, grid=3)
    assert isinstance(from_tensor, tf.Tensor)
    np.testing.assert_array_equal(from_tensor.numpy(), maps)


def test_the_model_runs_compiled_with_training_false_and_traces_once():
    shape = (10, 10, 3)
    model = tiny_cnn(shape, 3, seed=6)
    seen_training = []

    class Probe(keras.layers.Layer):
        def call(self, inputs, training=None):
            seen_training.append(training)
            return inputs

    probed = keras.Sequential([keras.Input(shape), Probe(), model])
    seen_training.clear()  # building the Sequential called the layer symbolically
    # 3 images x (2 * 16 + 1) = 99 rows packed at batch_size 10: 10 chunks of 10, the last one padded
    results = glas_tf.explain(probed, images(3, shape), 1, grid=4, batch_size=10, return_result=True)
    # one trace: the sweep's chunk (10 rows); a given class needs no clean pass
    forward = engine_tf.compiled(probed)
    assert forward.experimental_get_tracing_count() == 1
    glas_tf.explain(probed, images(3, shape, seed=5), 0, grid=4, batch_size=10)
    assert forward.experimental_get_tracing_count() == 1  # no retracing
    glas_tf.explain(probed, images(3, shape, seed=5), None, grid=4, batch_size=10)
    assert forward.experimental_get_tracing_count() == 2  # targets=None: the clean pass over 3 images (3 rows)
    # one image alone: chunks of balanced_chunk(33, 10) = 9 rows, traced once, also for the
    # recursive iterations, whose sweeps pad to the same chunk
    glas_tf.explain_recursive(probed, images(3, shape), 1, grid=4, batch_size=10, max_iter=2)
    assert forward.experimental_get_tracing_count() == 3
    assert seen_training and all(t is False for t in seen_training)
    assert [r.n_forward for r in results] == [33, 33, 33]


def test_small_images_on_the_cpu_are_perturbed_on_numpy_large_ones_on_tensorflow():
    engine = engines.engine_for("tensorflow")
    assert not engine.core_on_native(tf.zeros((1, 128, 128, 3)))  # 49,152 values: NumPy is faster
    assert engine.core_on_native(tf.zeros((1, 224, 224, 3)))  # 150,528: no copy of every chunk is faster


def test_torch_takes_numpy_rows_of_any_size():
    pytest.importorskip("torch")
    torch_engine = engines.engine_for("torch")  # torch.from_numpy shares the rows: no copy to save
    assert not torch_engine.core_on_native(torch_engine.native(np.zeros((1, 224, 224, 3), np.float32)))


def test_images_on_the_cpu_are_perturbed_on_numpy_and_on_tensorflow_where_asked(monkeypatch):
    """On an accelerator the core runs on tf.Tensor images through the shim; here that path is
    forced on the CPU and gives the maps of the NumPy path."""
    shape = (10, 10, 3)
    model = tiny_cnn(shape, 3, seed=6)
    x = images(2, shape)
    on_numpy = glas_tf.explain(model, x, [[0, 2], [1, 0]], grid=4, batch_size=10, return_result=True)
    assert isinstance(on_numpy[0].saliency, np.ndarray)
    monkeypatch.setattr(engines, "NATIVE_ON_CPU", True)
    on_tf = glas_tf.explain(model, tf.constant(x), [[0, 2], [1, 0]], grid=4, batch_size=10, return_result=True)
    assert isinstance(on_tf[0].saliency, tf.Tensor)  # the core ran in TensorFlow, through the shim
    assert glas_core._array_api.namespace_of(tf.zeros(1)) is namespace
    for a, b in zip(on_numpy, on_tf):
        np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=0, atol=1e-5 * np.abs(a.to_numpy()).max())


def test_no_global_tensorflow_or_keras_state_changes():
    shape = (8, 8, 3)
    backend, eager, run_eagerly = keras.backend.backend(), tf.executing_eagerly(), tf.config.functions_run_eagerly()
    glas_tf.explain(tiny_cnn(shape, 2), images(1, shape), grid=3, progress=lambda d, t: None)
    assert (keras.backend.backend(), tf.executing_eagerly(), tf.config.functions_run_eagerly()) == \
        (backend, eager, run_eagerly)
    assert not hasattr(tf.constant([1.0]), "reshape")  # NumPy behaviour of tf.Tensor not switched on


def test_progress_callable_sees_every_row_of_every_image():
    shape = (8, 8, 3)
    calls = []
    glas_tf.explain(tiny_cnn(shape, 2), images(2, shape), grid=3, batch_size=8,
                    progress=lambda d, t: calls.append((d, t)))
    total = 2 * (2 * 9 + 1)
    assert calls[-1] == (total, total)
    done = [d for d, _ in calls]
    assert done == sorted(done) and all(t == total for _, t in calls)


def test_recursive_and_multiscale_match_core_on_numpy():
    shape = (12, 12, 3)
    model = tiny_cnn(shape, 3, seed=7)
    x = images(1, shape, seed=2)

    def score_fn(batch):
        return np_softmax(model(np.asarray(batch, np.float32), training=False).numpy())[:, [1]]

    rec = glas_tf.explain_recursive(model, x, 1, grid=4, max_iter=3)
    core_rec = glas_core.explain_recursive(score_fn, x[0], spatial_axes=(0, 1), grid=4, max_iter=3)
    np.testing.assert_allclose(rec[0], core_rec.to_numpy()[0], rtol=1e-4, atol=1e-6)
    multi = glas_tf.explain_multiscale(model, x, 1, grid=4, sigmas=[3.0, 1.0], return_result=True)[0]
    assert glas_tf.explain_multiscale(model, x, 1, grid=4, sigmas=[3.0, 1.0]).shape == (1, 2, 12, 12)
    for j, s in enumerate([3.0, 1.0]):
        core = glas_core.explain(score_fn, x[0], spatial_axes=(0, 1), grid=4, sigma=s).to_numpy()[0]
        got = multi[j].to_numpy()[0] * np.exp(float(multi[j].log_scale[0]))
        np.testing.assert_allclose(got, core, rtol=1e-4, atol=1e-7)


# ------------------------------------------------------------------------ errors
@pytest.fixture(scope="module")
def model_5():
    return tiny_cnn((16, 16, 3), 5, seed=0)


@pytest.mark.parametrize("bad_shape, words", [
    ((2, 3, 16, 16), "channels-first"),
    ((3, 16, 16), "channels-first"),
    ((16, 16), "rank 2"),
    ((1, 2, 16, 16, 3), "rank 5"),
])
def test_bad_layouts_raise(model_5, bad_shape, words):
    with pytest.raises(GLASError, match=words) as info:
        glas_tf.explain(model_5, np.zeros(bad_shape, np.float32))
    assert "(N, H, W, C)" in str(info.value) or "transpose" in str(info.value)


@pytest.mark.parametrize("class_index, words", [
    (5, r"targets must be class indices in \[0, 5\), got \[5\], out of range"),
    (-1, "out of range"),
    ([0, 1, 2], r"one class per example \(2\), Captum's rule, got a list of 3 classes"),
    ([0.5, 1.0], "targets must be integer class indices, got values of dtype float64"),
    (True, "bool"),
])
def test_bad_class_index_raises(model_5, class_index, words):
    with pytest.raises(GLASError, match=words):
        glas_tf.explain(model_5, images(2, (16, 16, 3)), class_index, grid=3)


def test_bad_probabilities_and_model_outputs_raise(model_5):
    x = images(1, (16, 16, 3))
    with pytest.raises(GLASError, match="probabilities must be"):
        glas_tf.explain(model_5, x, probabilities="softmx")
    with pytest.raises(GLASError, match=r"model output must be one array of shape \(\d+, num_classes\), got a dict"):
        glas_tf.explain(lambda b: {"logits": model_5(b)}, x)
    with pytest.raises(GLASError, match=r"\(\d+, num_classes\)"):
        glas_tf.explain(lambda b: tf.reshape(model_5(b), (-1, 5, 1)), x)
    with pytest.raises(GLASError, match=r"probabilities in \[0, 1\]"):
        glas_tf.explain(model_5, x, 0, grid=3, probabilities=None)  # logits passed as probabilities
    with pytest.raises(GLASError, match="grid"):
        glas_tf.explain(model_5, x, grid=0)
    with pytest.raises(GLASError, match="single-output sigmoid model"):
        glas_tf.explain(tiny_cnn((16, 16, 3), 1), x, 1, probabilities="sigmoid")
    with pytest.raises(GLASError, match=r"probabilities must be 'sigmoid' or None .* always 1"):
        glas_tf.explain(tiny_cnn((16, 16, 3), 1), x, 0)  # the default softmax over one output


# ------------------------------------------------------------------ several classes per image
def test_several_classes_per_image_in_one_sweep_match_the_reference():
    shape = (10, 12, 3)
    model = tiny_cnn(shape, 4, seed=8)
    x = images(2, shape)
    classes = [[0, 3], [2, 1]]
    assert glas_tf.explain(model, x, classes, grid=(5, 4), sigma=(1.5, 1.0, 2.0)).shape == (2, 2, 10, 12)
    maps = paper_maps(model, x, classes, grid=(5, 4), sigma=(1.5, 1.0, 2.0))
    for i in range(2):
        for t, cls in enumerate(classes[i]):
            _close(maps[i, t], reference_map(model, x[i], cls, (5, 4), (1.5, 1.0, 2.0)))
    # one sweep per image scores both classes: each result holds T maps from 2P + 1 rows
    results = glas_tf.explain(model, x, classes, grid=(5, 4), sigma=(1.5, 1.0, 2.0), return_result=True)
    assert [r.saliency.shape[0] for r in results] == [2, 2] and results[0].n_forward == 2 * 20 + 1
    single = glas_tf.explain(model, x[0], [[0, 3]], grid=(5, 4), sigma=(1.5, 1.0, 2.0))
    assert single.shape == (2, 10, 12)
    np.testing.assert_allclose(single, glas_tf.explain(model, x, classes, grid=(5, 4), sigma=(1.5, 1.0, 2.0))[0],
                               rtol=1e-6)


def test_several_classes_per_image_in_recursive_glas_equal_one_class_at_a_time():
    shape = (8, 8, 3)
    model = tiny_cnn(shape, 3, seed=9)
    x = images(2, shape)
    both = glas_tf.explain_recursive(model, x, [[0, 1], [1, 2]], grid=3, max_iter=2)
    assert both.shape == (2, 2, 8, 8)
    for i, classes in enumerate([[0, 1], [1, 2]]):
        for t, cls in enumerate(classes):
            alone = glas_tf.explain_recursive(model, x[i], cls, grid=3, max_iter=2)
            np.testing.assert_allclose(both[i, t], alone, rtol=1e-5, atol=1e-6 * np.abs(alone).max())
    with pytest.raises(GLASError, match=r"targets must be class indices in \[0, 3\), got \[3\]"):
        glas_tf.explain(model, x, [[0, 3], [1, 2]], grid=3)
