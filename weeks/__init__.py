"""Your exercises: generated from solutions/ by `workbook release`. Fill in each `# YOUR CODE HERE`, grade
yourself with `pytest autograder`, and run an exercise's demo with `python -m weeks.<week>.<exercise>`.

Importing the package loads `shared` first: it sets Keras' backend and keeps torch and TensorFlow from
crashing each other in one process (see shared/__init__.py), so no exercise file has to.
"""
import shared  # noqa: F401 — the set-up above, once for every exercise
