"""`kb calibrate grader`: the grader's few weights refitted to one profile's own labels, judged by
time as `kb fsrs optimize` is.

The answers the profile marked right or wrong, oldest first, are split: the earliest 80 % to fit,
the latest 20 % to judge. Each candidate pair of weights (how much of a key point's coverage comes
from shared words; how much of the score from the whole answer's similarity) is scored by how well
it orders right answers above wrong ones (AUC) on the fitting part; the best is kept only if it also
orders the judging part better than the defaults. Answers are graded without their history, so a
label never grades itself.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, TypedDict

from kb.coach.grade.grader import DEFAULT_WEIGHTS, Weights

MIN_FIT = 40  # marked answers needed in the earliest 80 %
MIN_JUDGE = 10  # ... and in the rest
FIT_SHARE = 0.8
LEXICAL_GRID = (0.2, 0.35, 0.5)
WHOLE_GRID = (0.15, 0.3, 0.5)


class Candidate(TypedDict):
    """One pair of weights tried, and how well it orders the fitting part."""

    lexical: float
    whole: float
    auc_fit: float | None


@dataclass
class GraderFit:
    status: Literal["adopted", "rejected", "not_enough_labels"]
    message: str
    fitted_at: str
    labels: int
    fit_labels: int = 0
    judge_labels: int = 0
    weights: Weights | None = None
    auc_default: float | None = None  # on the judging part
    auc_fitted: float | None = None
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def adopted(self) -> bool:
        return self.status == "adopted"

    def to_dict(self) -> dict[str, Any]:  # JSON-ready
        data = asdict(self)
        data["weights"] = asdict(self.weights) if self.weights else None
        return data


def auc(right: list[float], wrong: list[float]) -> float | None:
    """Share of (right, wrong) pairs ordered right above wrong, ties counting half."""
    if not right or not wrong:
        return None
    wins = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
    return round(wins / (len(right) * len(wrong)), 4)


def fit(labelled: list[tuple[str, str, str]], grade: Callable[[str, str, Weights], float], now: datetime | None = None) -> GraderFit:
    """`labelled`: (card id, answer, "right" | "wrong") oldest first; `grade(card_id, answer, weights)`
    gives a score without history. Returns the fit, adopted or not, or why none was tried."""
    fitted_at = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    rows = [row for row in labelled if row[2] in ("right", "wrong")]
    cut = int(len(rows) * FIT_SHARE)
    train, judge = rows[:cut], rows[cut:]
    if len(train) < MIN_FIT or len(judge) < MIN_JUDGE:
        return GraderFit("not_enough_labels", f"needs {MIN_FIT} marked answers in the earliest 80 % and {MIN_JUDGE} in the rest "
                         f"(at least {MIN_FIT + MIN_JUDGE} in all); this profile has {len(rows)}", fitted_at, len(rows), len(train), len(judge))

    def ordering(part: list[tuple[str, str, str]], weights: Weights) -> float | None:
        scores = [(grade(card_id, answer, weights), label) for card_id, answer, label in part]
        return auc([s for s, label in scores if label == "right"], [s for s, label in scores if label == "wrong"])

    candidates: list[Candidate] = []
    for lexical in LEXICAL_GRID:
        for whole in WHOLE_GRID:
            weights = Weights(lexical, whole)
            candidates.append(Candidate(lexical=lexical, whole=whole, auc_fit=ordering(train, weights)))
    best = max(candidates, key=lambda c: (c["auc_fit"] or 0.0, -abs(c["lexical"] - DEFAULT_WEIGHTS.lexical) - abs(c["whole"] - DEFAULT_WEIGHTS.whole)))
    weights = Weights(best["lexical"], best["whole"])
    before, after = ordering(judge, DEFAULT_WEIGHTS), ordering(judge, weights)
    better = before is not None and after is not None and after > before
    status: Literal["adopted", "rejected"] = "adopted" if better else "rejected"
    message = (f"weights lexical {weights.lexical}, whole {weights.whole}: AUC on the latest {len(judge)} labels {after} "
               f"against {before} with the defaults; " + ("adopted" if better else "not better, so the defaults stay"))
    return GraderFit(status, message, fitted_at, len(rows), len(train), len(judge), weights, before, after, candidates)
