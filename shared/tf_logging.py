"""Keep TensorFlow's start-up lines off the learner's screen, wherever TensorFlow is first imported.

TF_CPP_MIN_LOG_LEVEL=2 quiets TensorFlow's own logging, but not what its C++ libraries print while they load:
abseil writes "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR" and then the
message itself ("oneDNN custom operations are on ...") straight to file descriptor 2, before any log level is
read (abseil-cpp issues #1570 and #1718: messages below the threshold are printed anyway until InitializeLog).
No environment variable reaches them. So `install()` (called by shared/__init__.py, before anything imports
TensorFlow) hooks the first `import tensorflow`: while it runs, descriptor 2 points at a temporary file; afterwards
every line but those known start-up notices is written back to stderr, so real errors still show.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
import tempfile

NOTICES = ("WARNING: All log messages before absl::InitializeLog()", "oneDNN custom operations are on",
           "This TensorFlow binary is optimized to use available CPU instructions",
           "To enable the following instructions", "Unable to register cuDNN factory",
           "Unable to register cuFFT factory", "Unable to register cuBLAS factory",
           "computation placer already registered", "TF-TRT Warning", "could not find cuda drivers",
           "Could not find cuda drivers", "cuda_init", "failed call to cuInit")


def _is_notice(line: str) -> bool:
    return any(notice in line for notice in NOTICES)


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with tempfile.TemporaryFile() as captured:
            try:
                sys.stderr.flush()
                saved = os.dup(2)
            except (OSError, ValueError, AttributeError):
                return self.loader.exec_module(module)  # no descriptor 2 to borrow: import as usual
            os.dup2(captured.fileno(), 2)
            try:
                self.loader.exec_module(module)
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                        if not _is_notice(line)]
                if kept:
                    sys.stderr.write("".join(kept))


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Stays in sys.meta_path until TensorFlow is imported: libraries probe with importlib.util.find_spec first."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow" or "tensorflow" in sys.modules:
            return None
        for finder in sys.meta_path:  # the real spec, from the finders after this one
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and not isinstance(spec.loader, _QuietLoader):
                    spec.loader = _QuietLoader(spec.loader)
                return spec
        return None


def install() -> None:
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
