"""The JAX path: Keras on the JAX backend.

Imported only when a model runs on JAX. A Keras model is run through one ``jax.jit`` of
``model.stateless_call(trainable, non_trainable, x, training=False)``, cached per model; its
weights are passed as arguments, read once per explanation, so a model trained between two
explanations is never explained with stale weights, and the state ``stateless_call`` returns
is dropped, so the model never changes. Chunks have a fixed size, so XLA compiles once per
image shape and chunk size. A plain callable is called as it is on ``jax.Array`` batches.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from glas_adapters.tf.engines import Engine, Runner
from glas_adapters.tf.frameworks import framework_of, to_host

_JITTED: weakref.WeakKeyDictionary[Any, Callable[..., Any]] = weakref.WeakKeyDictionary()


def jitted(model: Any) -> Callable[..., Any]:
    """``f(trainable, non_trainable, batch) -> outputs``, compiled; held weakly by the model."""
    if model not in _JITTED:
        ref = weakref.ref(model)

        def call(trainable: Any, non_trainable: Any, batch: Any) -> Any:
            live = ref()
            assert live is not None  # the cache entry goes with the model
            out, _ = live.stateless_call(trainable, non_trainable, batch, training=False)
            return out

        _JITTED[model] = jax.jit(call)
    return _JITTED[model]


class JaxEngine(Engine):
    name = "jax"
    native_min_values = 100_000  # about 183 x 183 x 3 (see glas_adapters.tf.engines)

    def native(self, images: Any) -> Any:
        if framework_of(images) == "jax":
            return images
        return jnp.asarray(to_host(images))

    def on_accelerator(self, native: Any) -> bool:
        return any(d.platform != "cpu" for d in native.devices())

    def runner(self, model: Any, keras_model: bool) -> Runner:
        if not keras_model:
            return super().runner(model, keras_model)
        state: dict[str, Any] = {}

        def run(batch: Any) -> Any:
            if not state:
                if not model.built:  # a subclassed model creates its weights on its first call
                    model(self.native(batch[:1]), training=False)
                state["trainable"] = [v.value for v in model.trainable_variables]
                state["non_trainable"] = [v.value for v in model.non_trainable_variables]
            return jitted(model)(state["trainable"], state["non_trainable"], batch)

        return run


ENGINE_CLASS = JaxEngine
