"""A scheduler fitted to you: FSRS weights fitted to one profile's own reviews, kept only if they predict better.

    result = fit(reviews)            # reviews: objects with .card_id, .reviewed_at (ISO or datetime), .rating
    result.status                    # "adopted" | "rejected" | "not_enough"
    result.loss_default, result.loss_fitted

How it decides:

1. Reviews are sorted by time. The earliest TRAIN_SHARE (80 %) train fsrs's own Optimizer (torch);
   the rest are held out.
2. fsrs's optimizer learns only from reviews made at least a day after the card's previous review
   (among each card's first 64), and returns its defaults when it has fewer than 512 of them (its
   mini-batch size). So MIN_TRAIN_REVIEWS = 512 such reviews must be in the training part, and
   MIN_HELDOUT_REVIEWS = 50 in the held-out part; otherwise nothing is fitted ("not_enough").
3. Each card's whole history is replayed with the default and with the fitted weights; every
   held-out review made at least a day after the card's previous one is scored: log loss of the
   predicted recall probability against recalled (Hard/Good/Easy) or not (Again), and RMSE between
   mean predicted and observed recall over RMSE_BINS equal-width bins of the prediction.
4. The fitted weights are adopted only when their held-out log loss is lower than the defaults'.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from kb.coach import scheduling
from kb.errors import ModelLoadError

if TYPE_CHECKING:  # fsrs is imported where it is used
    import fsrs

TRAIN_SHARE = 0.8
MIN_TRAIN_REVIEWS = 512  # fsrs.optimizer's mini_batch_size: below it, compute_optimal_parameters returns the defaults
MIN_HELDOUT_REVIEWS = 50
MAX_SEQ_LEN = 64  # fsrs.optimizer's max_seq_len: it learns from each card's first 64 reviews
RMSE_BINS = 20
EPS = 1e-7


@dataclass
class FitResult:
    status: str  # "adopted" (fitted weights now in use), "rejected" (defaults kept) or "not_enough" (nothing fitted)
    message: str
    fitted_at: str
    reviews: int  # every review of the profile
    train_reviews: int  # reviews the optimizer learns from (a day or more after the card's previous one) in the earliest 80 %
    holdout_reviews: int  # scored reviews in the latest 20 %
    parameters: list[float] | None = None  # the fitted weights (None when nothing was fitted)
    loss_default: float | None = None  # held-out log loss with fsrs's default weights
    loss_fitted: float | None = None
    rmse_default: float | None = None  # held-out RMSE over binned predictions
    rmse_fitted: float | None = None

    @property
    def adopted(self) -> bool:
        return self.status == "adopted"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SchedulerStatus:
    """Which FSRS weights schedule a profile's reviews, and the fit they came from."""

    source: str  # "default" or "fitted"
    parameters: list[float]
    last_fit: FitResult | None = None  # the latest fit (adopted or not), None if never fitted

    def describe(self) -> str:
        """One sentence, e.g. for the Progress tab and `kb fsrs show`."""
        fit = self.last_fit
        if self.source == "fitted" and fit:
            return (f"FSRS parameters fitted to you on {fit.fitted_at[:10]} from {fit.reviews} reviews: held-out log loss "
                    f"{fit.loss_fitted:.4f} (defaults {fit.loss_default:.4f}), RMSE {fit.rmse_fitted:.4f} (defaults {fit.rmse_default:.4f}) "
                    f"on {fit.holdout_reviews} held-out reviews.")
        line = "FSRS default parameters."
        if fit:
            line += (f" The fit on {fit.fitted_at[:10]} from {fit.reviews} reviews did not predict better on the held-out reviews "
                     f"(log loss {fit.loss_fitted:.4f} vs {fit.loss_default:.4f} with the defaults), so the defaults stay.")
        else:
            line += (f" `kb fsrs optimize` fits them to you once you have {MIN_TRAIN_REVIEWS} reviews made a day or more apart "
                     f"in the earliest {TRAIN_SHARE:.0%} of your history.")
        return line

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "parameters": list(self.parameters), "description": self.describe(),
                "last_fit": self.last_fit.to_dict() if self.last_fit else None}


def status(last_fit: FitResult | None) -> SchedulerStatus:
    """The weights in use given the latest fit: its weights if it was adopted, else fsrs's defaults."""
    if last_fit and last_fit.adopted and last_fit.parameters:
        return SchedulerStatus("fitted", list(last_fit.parameters), last_fit)
    return SchedulerStatus("default", list(scheduling.default_parameters()), last_fit)


# ---- review history as fsrs ReviewLogs ---------------------------------------------------------------


class FitReview(Protocol):
    """What a fit reads of a review (kb.coach.progress.Review)."""

    @property
    def card_id(self) -> str: ...

    @property
    def reviewed_at(self) -> str | datetime: ...  # ISO time or a datetime

    @property
    def rating(self) -> str: ...


def _utc(moment: str | datetime) -> datetime:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(timezone.utc)


def review_logs(reviews: Iterable[FitReview]) -> list[fsrs.ReviewLog]:
    """fsrs ReviewLogs in time order; card ids become integers (fsrs wants ints)."""
    from fsrs import Rating, ReviewLog

    ids: dict[str, int] = {}
    rows = sorted(((_utc(r.reviewed_at), r.card_id, r.rating) for r in reviews), key=lambda row: row[0])
    return [ReviewLog(card_id=ids.setdefault(card_id, len(ids) + 1), rating=Rating[rating.capitalize()], review_datetime=at, review_duration=None)
            for at, card_id, rating in rows]


def learnable(logs: Iterable[fsrs.ReviewLog], cap: int | None = MAX_SEQ_LEN) -> int:
    """Reviews fsrs's optimizer learns from: a day or more after the card's previous review, among its first `cap`."""
    seen: dict[int, list[datetime]] = {}
    count = 0
    for log in logs:
        history = seen.setdefault(log.card_id, [])
        if history and (cap is None or len(history) < cap) and (log.review_datetime - history[-1]).days > 0:
            count += 1
        history.append(log.review_datetime)
    return count


def split(logs: Sequence[fsrs.ReviewLog], share: float = TRAIN_SHARE) -> int:
    """The index of the first held-out log: the earliest `share` of the (time-sorted) logs train."""
    return int(len(logs) * share)


def evaluate(parameters: Iterable[float] | None, logs: Sequence[fsrs.ReviewLog], start: int) -> tuple[float | None, float | None, int]:
    """(log loss, RMSE over binned predictions, reviews scored) of `parameters` on logs[start:], replaying all of each card's history."""
    from fsrs import Card, Rating

    scheduler = scheduling.scheduler(parameters)
    cards: dict[int, fsrs.Card] = {}
    scored: list[tuple[float, int]] = []
    for i, log in enumerate(logs):
        card = cards.get(log.card_id)
        if card is None:
            card = Card(card_id=log.card_id, due=log.review_datetime)
        elif i >= start and card.last_review is not None and (log.review_datetime - card.last_review).days > 0:  # None never: every stored card was reviewed
            p = float(scheduler.get_card_retrievability(card, log.review_datetime))
            scored.append((p, int(log.rating != Rating.Again)))
        card, _ = scheduler.review_card(card, log.rating, review_datetime=log.review_datetime)
        cards[log.card_id] = card
    if not scored:
        return None, None, 0
    loss = -sum(y * math.log(min(max(p, EPS), 1 - EPS)) + (1 - y) * math.log(1 - min(max(p, EPS), 1 - EPS)) for p, y in scored) / len(scored)
    return loss, binned_rmse(scored), len(scored)


def binned_rmse(scored: list[tuple[float, int]], bins: int = RMSE_BINS) -> float:
    """RMSE between mean prediction and observed recall rate per bin of the prediction, weighted by bin size."""
    sums: dict[int, list[float]] = {}
    for p, y in scored:
        entry = sums.setdefault(min(int(p * bins), bins - 1), [0.0, 0.0, 0])
        entry[0] += p
        entry[1] += y
        entry[2] += 1
    total = sum(n for _, _, n in sums.values())
    return math.sqrt(sum(n * (sp / n - sy / n) ** 2 for sp, sy, n in sums.values()) / total)


def optimize(logs: list[fsrs.ReviewLog]) -> list[float]:
    """fsrs's Optimizer (torch) on these logs: the fitted weights."""
    from fsrs import Optimizer

    try:
        optimizer = Optimizer(logs)
    except ImportError as exc:  # fsrs's stand-in when torch or pandas is missing
        raise ModelLoadError(f"fitting FSRS needs fsrs's optimizer (torch and pandas): {' '.join(str(exc).split())}") from exc
    return [float(w) for w in optimizer.compute_optimal_parameters()]


def fit(reviews: Iterable[FitReview], now: datetime | None = None) -> FitResult:
    """Fit on the earliest 80 % of the reviews, judge on the rest; see the module docstring."""
    fitted_at = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat()
    logs = review_logs(reviews)
    start = split(logs)
    train, holdout = learnable(logs[:start]), _holdout_count(logs, start)
    result = FitResult("not_enough", "", fitted_at, len(logs), train, holdout)
    if train < MIN_TRAIN_REVIEWS or holdout < MIN_HELDOUT_REVIEWS:
        result.message = (
            f"Not enough reviews to fit FSRS to you yet: {train} of the {MIN_TRAIN_REVIEWS} needed in the earliest {TRAIN_SHARE:.0%} "
            f"(reviews made a day or more after the card's previous one) and {holdout} of {MIN_HELDOUT_REVIEWS} in the latest "
            f"{1 - TRAIN_SHARE:.0%}; the default parameters stay."
        )
        return result
    result.parameters = optimize(logs[:start])
    result.loss_default, result.rmse_default, _ = evaluate(None, logs, start)
    result.loss_fitted, result.rmse_fitted, _ = evaluate(result.parameters, logs, start)
    # both score the same held-out reviews, at least MIN_HELDOUT_REVIEWS of them: neither loss is None
    assert result.loss_fitted is not None and result.loss_default is not None
    if result.loss_fitted < result.loss_default:
        result.status = "adopted"
        result.message = (f"Fitted FSRS parameters are now in use: held-out log loss {result.loss_fitted:.4f} vs {result.loss_default:.4f} "
                          f"with the defaults (RMSE {result.rmse_fitted:.4f} vs {result.rmse_default:.4f}) on {holdout} reviews.")
    else:
        result.status = "rejected"
        result.message = (f"The fitted parameters did not predict better on the held-out reviews (log loss {result.loss_fitted:.4f} vs "
                          f"{result.loss_default:.4f} with the defaults); the default parameters stay.")
    return result


def _holdout_count(logs: Sequence[fsrs.ReviewLog], start: int) -> int:
    last: dict[int, datetime] = {}
    count = 0
    for i, log in enumerate(logs):
        if i >= start and log.card_id in last and (log.review_datetime - last[log.card_id]).days > 0:
            count += 1
        last[log.card_id] = log.review_datetime
    return count
