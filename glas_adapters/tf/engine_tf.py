"""The TensorFlow path: Keras on the TensorFlow backend, ``tf.Module`` objects and TensorFlow callables.

Imported only when a model runs on TensorFlow. The model is called as
``model(x, training=False)`` inside one module-level ``tf.function`` (:func:`forward`);
chunks have a fixed size, so the function is traced once per model, image shape and chunk
size. A plain callable is traced the same way when it can be; one that cannot (NumPy code,
``model.predict_on_batch``) is called as it is on ``tf.Tensor`` batches.
"""

from __future__ import annotations

from typing import Any

from glas_adapters.tf.engines import Engine, Runner
from glas_adapters.tf.frameworks import framework_of, to_host
from glas_adapters.tf.runtime import load_tensorflow

tf = load_tensorflow()
if tf is None:
    raise ImportError("TensorFlow is not installed", name="tensorflow")

from glas_adapters.tf.namespace import register  # noqa: E402  (needs TensorFlow)

register()  # the core can build masks on tf.Tensor images with TensorFlow ops (accelerator path)


@tf.function
def forward(model: Any, batch: Any, keras_model: bool) -> Any:
    """The one compiled forward: the model object is a trace key (held weakly by TensorFlow)."""
    return model(batch, training=False) if keras_model else model(batch)


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
            return lambda batch: forward(model, batch, True)
        untraceable: list[bool] = []

        def run(batch: Any) -> Any:
            if not untraceable:
                try:
                    return forward(model, batch, False)
                except Exception:  # noqa: BLE001 - its own error, if any, comes again from the eager call
                    untraceable.append(True)
            return model(self.native(batch))

        return run


ENGINE_CLASS = TensorFlowEngine
