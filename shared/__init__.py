"""What every week and both frameworks share: data, metrics, timing, plots, the report and the `workbook` command."""
import os as _os
import sys as _sys

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # Keras 3 runs on TensorFlow in this workbook
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")    # keep TensorFlow's start-up chatter out of learners' output

from shared import tf_logging as _tf_logging  # noqa: E402 — and what its C++ libraries print while loading

_tf_logging.install()

# torch 2.14 + triton 3.8 + tensorflow-cpu 2.21 in one process: if triton is loaded after TensorFlow (torch._dynamo
# loads it: the first torch.optim step, torchvision and timm all import it), the process segfaults. Loading triton
# first avoids that (0.25 s). If TensorFlow is already loaded, hide triton instead: it only compiles GPU kernels
# for torch.compile, which nothing here needs.
if "tensorflow" in _sys.modules and "triton" not in _sys.modules:
    _sys.modules["triton"] = None
else:
    try:
        import triton as _triton  # noqa: F401
    except ImportError:  # triton ships with the CUDA builds of torch only
        pass
