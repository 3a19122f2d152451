"""The models a job explains, loaded safely and offline: :func:`~glas_adapters.jobs.models.loading.load_model`.

Each model is seen through [0, 1] pixels (:class:`~glas_adapters.jobs.models.classifier.Classifier`)
and explained through its framework's adapter, by the contract every adapter shares: PyTorch
(EfficientNet-Lite0, TorchScript), Keras (``.keras``), ONNX Runtime (``.onnx``, and
EfficientNet-Lite0 exported once and cached: ``efficientnet_onnx``) and local HuggingFace
directories (image classifiers and captioners). ``runtimes`` says which runtime runs the
built-in model and with how many threads. The command line, the Ray engine
and the report load models from here.
"""
