"""The Keras/TensorFlow adapter tests need TensorFlow and Keras: without them this folder is skipped.

TensorFlow runs on one intra-op and one inter-op thread (the tests share 2 cores); this is
state of the test process only, never set by the library.
"""

import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("keras")

try:  # only possible before TensorFlow's runtime starts
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
except RuntimeError:
    pass
