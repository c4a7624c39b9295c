"""Reference solutions: the single source from which weeks/ is generated (`workbook release`).

Importing the package loads `shared` first: it sets Keras' backend and keeps torch and TensorFlow from crashing
each other in one process (see shared/__init__.py), so no exercise file has to.
"""
import shared  # noqa: F401 — the set-up above, once for every exercise
