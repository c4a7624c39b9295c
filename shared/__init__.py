"""What every week and both frameworks share: data, metrics, timing, plots, the report and the `workbook` command."""
import os as _os

_os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # Keras 3 runs on TensorFlow in this workbook
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")    # keep TensorFlow's start-up chatter out of learners' output

# torch 2.14 + triton 3.8 + tensorflow-cpu 2.21: if TensorFlow is loaded before triton (which the first torch.optim
# optimizer pulls in through torch._dynamo), the process segfaults. Loading triton first avoids it (0.25 s).
try:
    import triton as _triton  # noqa: F401
except ImportError:  # triton ships with CUDA builds of torch only
    pass
