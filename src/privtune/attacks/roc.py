"""ROC, AUC and TPR at a fixed FPR for membership scores (higher score = "member").

Exact, assumption-free: AUC is the Mann-Whitney probability that a random member outscores a
random non-member (ties count one half); :func:`tpr_at_fpr` is the best TPR over all thresholds
whose FPR does not exceed the bound. With ``n_out`` non-members the smallest non-zero FPR is
``1 / n_out``: a bound below it can only be met with zero false positives, which the results
report (``fpr_resolution``) so low-FPR figures are read honestly.
"""

from __future__ import annotations

from collections.abc import Sequence


def auc(scores_in: Sequence[float], scores_out: Sequence[float]) -> float:
    if not scores_in or not scores_out:
        raise ValueError("AUC needs at least one member and one non-member score")
    out_sorted = sorted(scores_out)
    import bisect

    total = 0.0
    for s in scores_in:
        lo = bisect.bisect_left(out_sorted, s)
        hi = bisect.bisect_right(out_sorted, s)
        total += lo + 0.5 * (hi - lo)
    return total / (len(scores_in) * len(scores_out))


def roc_curve(scores_in: Sequence[float], scores_out: Sequence[float]) -> list[tuple[float, float]]:
    """``[(fpr, tpr), ...]`` from (0, 0) to (1, 1), one point per distinct threshold."""
    if not scores_in or not scores_out:
        raise ValueError("a ROC curve needs at least one member and one non-member score")
    thresholds = sorted(set(scores_in) | set(scores_out), reverse=True)
    n_in, n_out = len(scores_in), len(scores_out)
    pts = [(0.0, 0.0)]
    for t in thresholds:
        tp = sum(1 for s in scores_in if s >= t)
        fp = sum(1 for s in scores_out if s >= t)
        pts.append((fp / n_out, tp / n_in))
    return pts


def tpr_at_fpr(scores_in: Sequence[float], scores_out: Sequence[float], max_fpr: float) -> float:
    """The highest TPR of a threshold whose FPR is at most ``max_fpr``."""
    return max(tpr for fpr, tpr in roc_curve(scores_in, scores_out) if fpr <= max_fpr + 1e-12)
