"""The project's tests load `shared` first: it sets Keras' backend and the torch/TensorFlow import order."""
import shared  # noqa: F401 — the set-up, before any test module imports torch, keras or tensorflow
