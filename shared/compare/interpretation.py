"""What each row's model gets wrong, in numbers and sentences: its top losses, its most confused class pairs, one
sentence a learner can act on, and the report's "What I would try next" (fastai's ClassificationInterpretation,
for both frameworks).

    top = top_losses(logits, labels, class_names, k=6)   # the k test images with the highest cross-entropy
    pairs = confused_pairs(confusion_matrix, class_names)   # [{"true", "predicted", "count", "share"}, ...]
    pair_text(pairs[0])       # "triangle taken for square: 7 times (23% of triangle)"
    wrong_answer(confusion_matrix, class_names)          # the class it answers most when wrong
    action(row, pairs, mistakes, tested, sink)   # one sentence, from the confusions and the row's diagnosis
    next_steps(rows)                # the report's "What I would try next", one line per distinct advice

Everything here is computed from the first seed's model (the one saved, timed and drawn). Logits with NaN or inf
are refused: a loss that cannot be computed has no ranking.
"""
from __future__ import annotations

import numpy as np

TOP_LOSSES = 6          # test images shown per row, each with its Grad-CAM: cheap enough for every run
CONFUSED_PAIRS = 3      # class pairs listed per row
CONCENTRATED = 0.25     # one pair holding at least this share of a row's mistakes is where to look first
GOOD_FIT = "good fit"   # week 3's verdict when the curves give no other advice (solutions/week3/diagnose.py)


def losses(logits, labels) -> np.ndarray:
    """(N,) cross-entropy of each image: logsumexp(logits) - logit of the true class (float64, stable)."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    if logits.ndim != 2 or labels.shape != (len(logits),):
        raise ValueError(f"expected logits (N, K) and labels (N,), got {logits.shape} and {labels.shape}")
    if not np.isfinite(logits).all():
        raise ValueError("the logits hold NaN or inf: the model's outputs cannot be ranked by loss")
    if len(labels) and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"labels must be classes 0..{logits.shape[1] - 1}, got {labels.min()}..{labels.max()}")
    peak = logits.max(axis=1, keepdims=True)
    log_total = peak[:, 0] + np.log(np.exp(logits - peak).sum(axis=1))
    return log_total - logits[np.arange(len(labels)), labels]


def top_losses(logits, labels, class_names, k: int = TOP_LOSSES) -> list[dict]:
    """The k images with the highest loss, highest first (the earlier image first on ties): each with its index
    in the test split, true and predicted class, the predicted class's probability and the true class's."""
    loss = losses(logits, labels)
    logits = np.asarray(logits, dtype=np.float64)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    order = np.argsort(-loss, kind="stable")[:k]
    result = []
    for index in order:
        true, predicted = int(labels[index]), int(np.argmax(logits[index]))
        result.append({"index": int(index), "true": class_names[true], "predicted": class_names[predicted],
                       "probability": float(probabilities[index, predicted]),
                       "true_probability": float(probabilities[index, true]), "loss": float(loss[index])})
    return result


def confused_pairs(matrix, class_names, n: int = CONFUSED_PAIRS) -> list[dict]:
    """The n largest off-diagonal counts of a confusion matrix (row = true class, column = predicted), largest
    first (ties: the larger share of the true class, then class order); zero counts are never listed. `share`
    is the count over the true class's test images."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(class_names):
        raise ValueError(f"expected a ({len(class_names)}, {len(class_names)}) confusion matrix, got {matrix.shape}")
    if not np.isfinite(matrix).all() or (matrix < 0).any():
        raise ValueError("a confusion matrix holds counts: no NaN, inf or negative values")
    totals = matrix.sum(axis=1)
    cells = [(int(matrix[i, j]), float(matrix[i, j] / totals[i]), i, j)
             for i in range(len(matrix)) for j in range(len(matrix)) if i != j and matrix[i, j] > 0]
    cells.sort(key=lambda cell: (-cell[0], -cell[1], cell[2], cell[3]))
    return [{"true": class_names[i], "predicted": class_names[j], "count": count, "share": share}
            for count, share, i, j in cells[:n]]


def wrong_answer(matrix, class_names) -> dict | None:
    """The class the model answers most often when it is wrong: {"predicted", "count" (its wrong answers), "classes"
    (how many true classes they come from)}, or None without mistakes. A model that pulls many classes into one
    has learnt something about that class that is not its shape (a colour, a background) or has seen it most."""
    matrix = np.asarray(matrix)
    wrong = matrix * (1 - np.eye(len(matrix), dtype=matrix.dtype))
    column = int(np.argmax(wrong.sum(axis=0)))   # the first class on ties
    count = int(wrong[:, column].sum())
    return None if count == 0 else {"predicted": class_names[column], "count": count,
                                    "classes": int((wrong[:, column] > 0).sum())}


def pair_text(pair: dict) -> str:
    """`triangle taken for square: 7 times (23% of triangle)`."""
    times = "once" if pair["count"] == 1 else f"{pair['count']} times"
    return f"{pair['true']} taken for {pair['predicted']}: {times} ({100 * pair['share']:.0f}% of {pair['true']})"


def _concentrated(pair: dict, mistakes: int) -> bool:
    return pair["count"] > 1 and pair["count"] >= CONCENTRATED * mistakes


def action(row: dict, pairs: list[dict], mistakes: int, tested: int, sink: dict | None = None) -> str:
    """One sentence a learner can act on: the row's diagnosis when its curves call for a change, and where its
    mistakes concentrate: one class pair, one class it answers for many others (`sink`, from `wrong_answer`), or
    neither."""
    diagnosis = row["diagnosis"]
    if mistakes == 0:
        return f"No mistake on the {tested} test images; {diagnosis['verdict']}: {diagnosis['advice']}."
    top = pairs[0]
    pulled = sink is not None and sink["classes"] > 1 and sink["count"] >= 2 * CONCENTRATED * mistakes
    answers = (f"it answers {sink['predicted']} for {sink['count']} of its {mistakes} mistakes "
               f"({sink['classes']} different classes)") if pulled else ""
    spread = (f"its {mistakes} mistakes are spread out (no class pair more than "
              f"{'once' if top['count'] == 1 else str(top['count']) + ' times'})")
    if diagnosis["verdict"] != GOOD_FIT:
        then = (f"then look at the {top['true']} images taken for {top['predicted']} ({top['count']} of its "
                f"{mistakes} mistakes)" if _concentrated(top, mistakes) else f"then see why {answers}" if pulled
                else spread)
        return f"{_upper(diagnosis['verdict'])} first: {diagnosis['advice']}; {then}."
    if _concentrated(top, mistakes):
        return (f"{top['count']} of its {mistakes} mistakes are {top['true']} taken for {top['predicted']}: check "
                f"those images in the top losses (mislabelled? alike at this size?), then add {top['true']} and "
                f"{top['predicted']} training images or augmentation.")
    if pulled:
        return (f"{_upper(answers)}: check the class balance, and what the {sink['predicted']} training images "
                f"share that others lack (a colour, a background).")
    return f"{_upper(spread)} and the curves fit well: {diagnosis['advice']}."


def _upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _names(names: list[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def next_steps(rows: list[dict], label) -> list[str]:
    """The report's "What I would try next": one line per distinct advice of week 3's diagnosis (rows sharing it
    are named together), then the confusion that several rows share, if any. `label(row)` names a row."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        diagnosis = row["diagnosis"]
        groups.setdefault((diagnosis["verdict"], diagnosis["advice"]), []).append(row)
    lines = []
    for (verdict, advice), members in groups.items():
        evidence = "" if len(members) > 1 else f"; {members[0]['diagnosis']['evidence']}"
        lines.append(f"{_names([label(row) for row in members])}: {verdict}{evidence}. {_upper(advice)}.")
    shared: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        found = row.get("interpretation") or {}
        pairs = found.get("confused_pairs") or []
        if pairs and _concentrated(pairs[0], found.get("mistakes", 0)):
            shared.setdefault((pairs[0]["true"], pairs[0]["predicted"]), []).append(label(row))
    for (true, predicted), names in shared.items():
        if len(names) > 1:
            lines.append(f"{true} taken for {predicted} is where {_names(names)} go wrong most: look at those test "
                         f"images first; more or clearer {true} and {predicted} training images would help each.")
    return lines
