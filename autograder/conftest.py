"""Hooks the workbook's grading plugin into `pytest autograder` (see shared/grading/plugin.py)."""
from shared.grading.plugin import *  # noqa: F401,F403  (pytest finds the hooks by name)
