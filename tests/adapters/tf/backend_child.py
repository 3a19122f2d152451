"""Every Keras tool of glas_adapters.tf on one Keras backend, in a process of its own.

``python backend_child.py DIR BACKEND`` (with ``KERAS_BACKEND=BACKEND``) reads the weights,
images and settings in ``DIR/in.npz`` and writes what each tool returned to ``DIR/out.npz``;
``test_keras_backends.py`` checks those numbers against a NumPy reference. What can only be
seen here is asserted here: the tensor type of the returned maps, that TensorFlow is not
imported on the JAX and torch backends until the callback writes its first summary, and the
errors. Threads: one (torch, XLA and TensorFlow are limited by the parent's environment).
"""

from __future__ import annotations

import os
import sys

import numpy as np

DIR, BACKEND = sys.argv[1], sys.argv[2]

from glas_adapters import tf as glas_tf  # noqa: E402  (before Keras, as users import it)

# isort: split
import keras  # noqa: E402

import glas_core  # noqa: E402

assert keras.backend.backend() == BACKEND, keras.backend.backend()
WITHOUT_TF = BACKEND != "tensorflow"
assert not (WITHOUT_TF and "tensorflow" in sys.modules), "importing the adapter imported TensorFlow"
if BACKEND == "torch":
    import torch

    torch.set_num_threads(1)


def native(a: np.ndarray):
    """``a`` as the backend's own tensor (a torch tensor that requires grad: the adapter must cope)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.constant(a)
    if BACKEND == "jax":
        import jax.numpy as jnp

        return jnp.asarray(a)
    return torch.from_numpy(a.copy()).requires_grad_(True)


def is_native(t) -> bool:
    if BACKEND == "tensorflow":
        return type(t).__module__.startswith("tensorflow")
    if BACKEND == "jax":
        import jax

        return isinstance(t, jax.Array)
    return isinstance(t, torch.Tensor) and not t.requires_grad


def paper(results) -> np.ndarray:
    """(N, T, H, W) maps times exp(log_scale): the paper's Eq. 3."""
    return np.stack([r.to_numpy() * np.exp(glas_core.to_numpy(r.log_scale))[:, None, None] for r in results])


def cnn(shape, n_classes, weights):
    model = keras.Sequential([
        keras.Input(shape),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(n_classes),
    ])
    model.set_weights(weights)
    return model


data = np.load(os.path.join(DIR, "in.npz"))
x, grid, sigma = data["x"], tuple(int(g) for g in data["grid"]), tuple(float(s) for s in data["sigma"])
pairs, singles = data["pairs"], [int(c) for c in data["singles"]]
weights = [data[f"w{i}"] for i in range(4)]
model = cnn(x.shape[1:], 3, weights)
kw = dict(grid=grid, sigma=sigma, batch_size=10)
out: dict[str, np.ndarray] = {}

# explain: native images, two classes per image, one packed sweep; maps in the images' framework
maps = glas_tf.explain(model, native(x), pairs.tolist(), **kw)
assert is_native(maps) and tuple(maps.shape) == (len(x), 2, *x.shape[1:3]), (type(maps), maps.shape)
results = glas_tf.explain(model, native(x), pairs.tolist(), return_result=True, **kw)
assert all(is_native(r.saliency) for r in results)
out["pairs"] = paper(results)
out["pairs_maps"] = glas_core.to_numpy(maps)
# plain callables on NumPy images: a function of the model and Keras' own compiled predict_on_batch
out["plain_call"] = paper(glas_tf.explain(lambda b: model(b, training=False), x, singles, return_result=True, **kw))
out["plain_predict"] = paper(glas_tf.explain(model.predict_on_batch, x, singles, return_result=True, **kw))
# float64 and float16 images: the core perturbs them in their dtype, the model casts to its own
for dtype in (np.float64, np.float16):
    other = paper(glas_tf.explain(model, x.astype(dtype), singles, return_result=True, **kw))
    reference = paper(glas_tf.explain(model, x, singles, return_result=True, **kw))
    tolerance = 1e-5 if dtype == np.float64 else 2e-2
    error = np.abs(other - reference).max()
    assert error <= tolerance * np.abs(reference).max(), (dtype, error)
# the other tools
out["recursive"] = glas_core.to_numpy(glas_tf.explain_recursive(model, x, singles, grid=grid, max_iter=2))
out["multiscale"] = np.stack([paper(rs) for rs in glas_tf.explain_multiscale(
    model, x, singles, grid=grid, sigmas=[sigma, 1.0], return_result=True)])
# the adaptive search on native tensors, several classes per image; keeping every point = exhaustive
adaptive = glas_tf.explain_multiscale(model, native(x), [[int(c) for c in p] for p in pairs], grid=grid,
                                      sigmas=[sigma, 1.0], adaptive=True, keep=1e-9)
assert is_native(adaptive) and tuple(adaptive.shape) == (len(x), 2, 2, *x.shape[1:3]), adaptive.shape
out["adaptive"] = np.stack([paper(rs) for rs in glas_tf.explain_multiscale(
    model, native(x), [[int(c) for c in p] for p in pairs], grid=grid, sigmas=[sigma, 1.0], adaptive=True,
    keep=1e-9, return_result=True)])
xplique = glas_tf.GLAS(model, grid=grid, sigma=sigma)(native(x), np.eye(3, dtype=np.float32)[singles])
assert is_native(xplique) and tuple(xplique.shape) == (len(x), *x.shape[1:3], 1)
out["xplique"] = glas_core.to_numpy(xplique)
out["singles"] = glas_core.to_numpy(glas_tf.explain(model, x, singles, grid=grid, sigma=sigma))
out["tf_explain"] = glas_tf.GLASExplainer().explain((native(x), None), model, singles, grid=grid, sigma=sigma)

# train mode: BatchNorm and Dropout are called with training=False; nothing about the model changes
noisy = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.Conv2D(4, 3, padding="same"),
                          keras.layers.BatchNormalization(), keras.layers.Dropout(0.5), keras.layers.Flatten(),
                          keras.layers.Dense(3)])
rng = np.random.default_rng(0)
kernel, bias, gamma, beta, mean, var, dense, dense_bias = (w.shape for w in noisy.get_weights())
noisy.set_weights([w.astype(np.float32) for w in (
    rng.normal(0, 0.3, kernel), np.full(bias, 0.1), rng.uniform(0.8, 1.2, gamma), rng.normal(0, 0.1, beta),
    rng.normal(0.5, 0.2, mean), rng.uniform(0.5, 2.0, var), rng.normal(0, 0.2, dense), np.zeros(dense_bias))])
before = [w.copy() for w in noisy.get_weights()]
out.update({f"noisy_w{i}": w for i, w in enumerate(before)})
first = paper(glas_tf.explain(noisy, x, singles, return_result=True, **kw))
second = paper(glas_tf.explain(noisy, x, singles, return_result=True, **kw))
assert np.array_equal(first, second), "a Dropout or BatchNorm model gave different maps on two calls"
assert all(np.array_equal(a, b) for a, b in zip(before, noisy.get_weights())), "the explanation changed the model"
out["noisy"] = first


# a model that raises inside the compiled forward: its own message, on one line
class Broken(keras.Model):
    def call(self, inputs, training=None):
        raise ValueError("weights were never loaded")


try:
    glas_tf.explain(Broken(), x, 0, **kw)
except glas_core.GLASError as exc:
    text = str(exc)
    assert "ValueError: weights were never loaded" in text and "\n" not in text, text
    assert isinstance(exc.__cause__, ValueError), repr(exc.__cause__)
else:
    raise AssertionError("a model that raises gave no GLASError")

assert not (WITHOUT_TF and "tensorflow" in sys.modules), "explaining imported TensorFlow"

# GLASCallback during fit: TensorFlow is imported for its summary writer only now
model.compile(optimizer=keras.optimizers.SGD(0.01), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
callback = glas_tf.GLASCallback(x[:2], class_index=0, log_dir=os.path.join(DIR, "logs"), grid=grid, sigma=sigma)
model.fit(x, np.array(singles), epochs=2, batch_size=2, callbacks=[callback], verbose=0)
out["callback_grid"] = glas_tf.GLASExplainer().explain(x[:2], model, 0, grid=grid, sigma=sigma)
np.savez(os.path.join(DIR, "out.npz"), **out)
