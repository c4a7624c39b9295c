"""Every reference model, registered by importing the modules that build them (as timm's models/__init__.py does).

`shared.reference.load_models()` imports this module the first time a model is asked for by name. A week that
adds a model adds its module here. Not released into weeks/: the learner's models register when `workbook
compare --mine` imports the learner's modules one by one.
"""
from .week2 import cnn, keras_cnn, lstm  # noqa: F401 — each registers its models as it is imported
from .week3 import improved_cnn  # noqa: F401
from .week4 import fine_tuning, keras_transfer  # noqa: F401
