"""TensorFlow's start-up notices stay off the terminal; a log level the user chose is respected."""

from __future__ import annotations

import os
import subprocess
import sys

from glas_adapters.tf.runtime import keep_lines

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

BANNER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
ONEDNN = ("I0000 00:00:1796165431.769688    6725 port.cc:153] oneDNN custom operations are on. You may see "
          "slightly different numerical results due to floating-point round-off errors.\n")
NO_DRIVER = ("I0000 00:00:1796165431.770357    6725 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
             "GPU will not be used.\n")
GUARD = ("I0000 00:00:1796165258.440921    4542 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
         "available CPU instructions in performance-critical operations.\n"
         "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow.\n")
CUINIT = ("E0000 00:00:1796165443.221711    6725 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
          "Failed call to cuInit: UNKNOWN ERROR (303)\n")
WARNING = "W0000 00:00:1796165443.221711    6725 some_op.cc:12] a TensorFlow warning\n"
ERROR = "E0000 00:00:1796165443.221711    6725 other.cc:7] a real error\n"
PYTHON = "/site-packages/x.py:3: DeprecationWarning: something old\n"

#: fragments of the start-up notices a plain ``import tensorflow`` prints on a CPU machine
NOTICES = ("oneDNN", "cpu_feature_guard", "To enable the following instructions", "cudart_stub", "cuInit",
           "absl::InitializeLog")


def test_level_2_keeps_only_errors_and_python_output():
    text = BANNER + ONEDNN + NO_DRIVER + GUARD + WARNING + CUINIT + ERROR + PYTHON
    assert keep_lines(text, 2) == ERROR + PYTHON


def test_each_level_drops_what_tensorflow_drops_after_start_up():
    text = BANNER + ONEDNN + WARNING + ERROR
    assert keep_lines(text, 0) == text
    assert keep_lines(text, 1) == WARNING + ERROR
    assert keep_lines(text, 3) == ""


def test_cuinit_error_is_kept_where_a_cuda_driver_exists():
    """Without the "no cuda drivers" notice a failed cuInit is a real problem of a GPU machine."""
    assert keep_lines(BANNER + CUINIT, 2) == CUINIT
    assert keep_lines(BANNER + NO_DRIVER + CUINIT, 2) == ""


def _child(code: str, level: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240)


def test_importing_the_adapter_prints_no_start_up_notices():
    done = _child("import os; from glas_adapters import tf; import keras; import tensorflow as t; "
                  "t.constant(1.0) + 1; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])", None)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["2"]
    assert not [n for n in NOTICES if n in done.stderr], done.stderr


def test_a_log_level_the_user_set_is_kept():
    done = _child("import os; from glas_adapters import tf; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])", "0")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["0"]
