"""Evaluation metrics shared by the exercises and the comparison report (one definition of each).

Every function takes labels and predictions as 1-D integer arrays (numpy, or anything `np.asarray` accepts);
`accuracy` also takes logits or probabilities (N, K) and takes their argmax.
"""
from __future__ import annotations

import numpy as np
from sklearn import metrics as sk_metrics


def as_predictions(outputs) -> np.ndarray:
    """Class indices from labels (N,) or from logits/probabilities (N, K)."""
    if hasattr(outputs, "detach"):  # torch tensor
        outputs = outputs.detach().cpu().numpy()
    outputs = np.asarray(outputs)
    return outputs.argmax(axis=-1) if outputs.ndim == 2 else outputs.astype(np.int64)


def accuracy(outputs, labels) -> float:
    """Fraction of correct predictions: `accuracy(logits, labels)` or `accuracy(predicted_classes, labels)`."""
    predictions, labels = as_predictions(outputs), np.asarray(labels)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {predictions.shape} and labels {labels.shape} must describe the same images.")
    return float(sk_metrics.accuracy_score(labels, predictions))


def macro_f1(outputs, labels, num_classes: int | None = None) -> float:
    """F1 per class, averaged with equal weight: a rare class counts as much as a common one."""
    classes = None if num_classes is None else list(range(num_classes))
    return float(sk_metrics.f1_score(labels, as_predictions(outputs), labels=classes, average="macro", zero_division=0))


def confusion(outputs, labels, num_classes: int) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class."""
    return sk_metrics.confusion_matrix(labels, as_predictions(outputs), labels=list(range(num_classes)))


def per_class_accuracy(outputs, labels, num_classes: int) -> np.ndarray:
    """(K,) accuracy within each true class (its recall); NaN for a class absent from `labels`."""
    matrix = confusion(outputs, labels, num_classes)
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / totals, np.nan)


def count_parameters(model) -> tuple[int, int]:
    """(total, trainable) parameter counts of a torch `nn.Module` or a Keras model."""
    if hasattr(model, "parameters"):
        params = list(model.parameters())
        return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return trainable + sum(int(np.prod(w.shape)) for w in model.non_trainable_weights), trainable
