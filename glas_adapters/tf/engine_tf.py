"""The TensorFlow path: Keras on the TensorFlow backend, ``tf.Module`` objects and TensorFlow callables.

Imported only when a model runs on TensorFlow. A Keras model is called as
``model(x, training=False)`` inside its own ``tf.function`` (:func:`compiled`, cached per model
and held weakly, so a call dispatches on the batch alone); chunks have a fixed size, so it is
traced once per image shape and chunk size. A plain callable goes through one module-level
``tf.function`` (:func:`forward`) when it can be traced; one that cannot (NumPy code,
``model.predict_on_batch``) is called as it is on ``tf.Tensor`` batches.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any

from glas_adapters.tf.engines import Engine, Runner
from glas_adapters.tf.frameworks import framework_of, to_host
from glas_adapters.tf.runtime import load_tensorflow

_loaded = load_tensorflow()
if _loaded is None:
    raise ImportError("TensorFlow is not installed", name="tensorflow")
tf: ModuleType = _loaded

from glas_adapters.tf.namespace import register  # noqa: E402  (needs TensorFlow)

register()  # the core can build masks on tf.Tensor images with TensorFlow ops (accelerator path)


_COMPILED: weakref.WeakKeyDictionary[Any, Callable[[Any], Any]] = weakref.WeakKeyDictionary()


def compiled(model: Any) -> Callable[[Any], Any]:
    """``model(x, training=False)`` as a ``tf.function`` of the batch, one per Keras model (held weakly)."""
    if model not in _COMPILED:
        ref = weakref.ref(model)

        @tf.function
        def call(batch: Any) -> Any:
            live = ref()
            assert live is not None  # the cache entry goes with the model
            return live(batch, training=False)

        _COMPILED[model] = call
    return _COMPILED[model]


@tf.function
def forward(fn: Any, batch: Any) -> Any:
    """A plain callable, compiled: the callable is a trace key (held weakly by TensorFlow)."""
    return fn(batch)


class TensorFlowEngine(Engine):
    name = "tensorflow"
    native_min_values = 100_000  # about 183 x 183 x 3 (see glas_adapters.tf.engines)

    def native(self, images: Any) -> Any:
        if framework_of(images) == "tensorflow":
            return tf.convert_to_tensor(images)
        return tf.convert_to_tensor(to_host(images))

    def on_accelerator(self, native: Any) -> bool:
        device = (getattr(native, "device", "") or "").upper()
        return "GPU" in device or "TPU" in device

    def runner(self, model: Any, keras_model: bool) -> Runner:
        if keras_model:
            return compiled(model)
        untraceable: list[bool] = []

        def run(batch: Any) -> Any:
            if not untraceable:
                try:
                    return forward(model, batch)
                except Exception:  # noqa: BLE001 - its own error, if any, comes again from the eager call
                    untraceable.append(True)
            return model(self.native(batch))

        return run


ENGINE_CLASS = TensorFlowEngine
