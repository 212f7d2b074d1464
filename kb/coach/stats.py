"""Review statistics for one profile, as pure functions of its reviews and card states.

Everything here takes plain values (review times and ratings, due times) and a `now`, so the
Progress tab, `kb stats` and the tests compute the same numbers from the same history:

- `heatmap`: reviews per day for the last HEATMAP_WEEKS weeks, GitHub-style (whole weeks, Monday first);
- `weekly_retention`: per week, the share of reviews rated Hard or better (Again is a lapse);
- `due_forecast`: cards due per day for the next FORECAST_DAYS days (today includes the overdue);
- `streak`: days in a row with at least one review, up to today (or yesterday).

Days are UTC calendar days, as the reviews are stored.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Protocol

HEATMAP_WEEKS = 26
FORECAST_DAYS = 30
PASSING = ("hard", "good", "easy")  # recalled; "again" is a lapse


def utc_day(moment: str | datetime) -> date:
    """The UTC calendar day of an ISO timestamp or an aware datetime."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).date()


def heatmap_start(today: date, weeks: int = HEATMAP_WEEKS) -> date:
    """The Monday that opens the grid: `weeks` whole weeks ending with the week of `today`."""
    return today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)


def heatmap(review_times: Iterable[str | datetime], today: date, weeks: int = HEATMAP_WEEKS) -> list[tuple[str, int]]:
    """(ISO day, reviews) for every day from heatmap_start(today) to today, zeros included."""
    start = heatmap_start(today, weeks)
    counts = Counter(utc_day(t) for t in review_times)
    days = (today - start).days + 1
    return [((start + timedelta(days=i)).isoformat(), counts.get(start + timedelta(days=i), 0)) for i in range(days)]


def heat_level(count: int, busiest: int, levels: int = 4) -> int:
    """0 for no reviews, else 1..levels in proportion to the busiest day (GitHub's shading)."""
    if count <= 0 or busiest <= 0:
        return 0
    return max(1, min(levels, -(-count * levels // busiest)))


@dataclass
class WeekRetention:
    week: str  # the week's Monday, ISO
    reviews: int
    passed: int  # rated Hard, Good or Easy

    @property
    def retention(self) -> float | None:
        """passed / reviews, or None for a week without reviews."""
        return round(self.passed / self.reviews, 4) if self.reviews else None

    def to_dict(self) -> dict[str, Any]:  # JSON-ready
        return {"week": self.week, "reviews": self.reviews, "passed": self.passed, "retention": self.retention}


def weekly_retention(reviews: Iterable[tuple[str | datetime, str]], today: date, weeks: int = HEATMAP_WEEKS) -> list[WeekRetention]:
    """For each of the last `weeks` weeks (Monday first, oldest first): reviews and how many were rated Hard or better."""
    start = heatmap_start(today, weeks)
    totals = {start + timedelta(weeks=i): [0, 0] for i in range(weeks)}
    for moment, rating in reviews:
        day = utc_day(moment)
        monday = day - timedelta(days=day.weekday())
        if monday in totals:
            totals[monday][0] += 1
            totals[monday][1] += (rating or "").lower() in PASSING
    return [WeekRetention(monday.isoformat(), n, passed) for monday, (n, passed) in totals.items()]


def retention(ratings: Iterable[str]) -> float | None:
    """The share of ratings that are Hard or better, over all of them (None when there are none)."""
    ratings = [(r or "").lower() for r in ratings]
    return round(sum(r in PASSING for r in ratings) / len(ratings), 4) if ratings else None


def due_forecast(due_times: Iterable[str | datetime], now: datetime, days: int = FORECAST_DAYS) -> tuple[list[tuple[str, int]], int]:
    """([(ISO day, cards due that day)] for today and the next days-1 days, overdue now).

    A card due before `now` counts on today (it is still to do) and in the overdue number; cards due
    after the last day are not counted.
    """
    today = utc_day(now)
    counts = [0] * days
    overdue = 0
    for due in due_times:
        moment = datetime.fromisoformat(due) if isinstance(due, str) else due
        if moment < now:
            overdue += 1
            counts[0] += 1
            continue
        offset = (utc_day(moment) - today).days
        if 0 <= offset < days:
            counts[offset] += 1
    return [((today + timedelta(days=i)).isoformat(), counts[i]) for i in range(days)], overdue


def streak(review_times: Iterable[str | datetime], today: date) -> int:
    """Days in a row with reviews, ending today (or yesterday, so a streak survives until today is over)."""
    days = {utc_day(t) for t in review_times}
    day = today if today in days else today - timedelta(days=1)
    count = 0
    while day in days:
        count += 1
        day -= timedelta(days=1)
    return count


@dataclass
class ReviewStats:
    """What the Progress tab draws and `kb stats` prints, for one profile at one moment."""

    profile: str
    now: str
    reviews: int  # all reviews ever
    days_studied: int
    streak: int
    retention: float | None  # over every review
    heatmap: list[tuple[str, int]]  # last HEATMAP_WEEKS weeks, day by day
    weekly_retention: list[WeekRetention]
    forecast: list[tuple[str, int]]  # next FORECAST_DAYS days
    overdue: int
    mastery: list[tuple[str, float, int, int]]  # (family, mean last score with unreviewed = 0, reviewed, cards)
    scheduler: dict[str, Any] = field(default_factory=dict)  # which FSRS parameters are in use (SchedulerStatus.to_dict())
    corrections: dict[str, int] = field(default_factory=dict)  # the user's grading labels (ProgressStore.correction_counts)

    def heat_levels(self) -> list[int]:
        """The shade (0-4) of each heatmap day, relative to the busiest day shown."""
        busiest = max((n for _, n in self.heatmap), default=0)
        return [heat_level(n, busiest) for _, n in self.heatmap]

    def to_dict(self) -> dict[str, Any]:  # JSON-ready
        out = asdict(self)
        out["heatmap"] = [{"day": d, "reviews": n} for d, n in self.heatmap]
        out["weekly_retention"] = [w.to_dict() for w in self.weekly_retention]
        out["forecast"] = [{"day": d, "due": n} for d, n in self.forecast]
        out["mastery"] = [{"family": f, "mastery": m, "reviewed": r, "cards": n} for f, m, r, n in self.mastery]
        return out


class ReviewLike(Protocol):
    """What the stats read of a stored review (kb.coach.progress.Review)."""

    @property
    def reviewed_at(self) -> str: ...  # ISO time, UTC

    @property
    def rating(self) -> str: ...


def compute(profile: str, reviews: Iterable[ReviewLike], due_times: Iterable[str], mastery: Iterable[tuple[str, float, int, int]],
            now: datetime | None = None, scheduler: dict[str, Any] | None = None, corrections: dict[str, int] | None = None) -> ReviewStats:
    """ReviewStats from reviews (objects with .reviewed_at and .rating), the due times of the cards that
    still exist, and mastery rows; `now` defaults to the current time."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    today = utc_day(now)
    pairs = [(r.reviewed_at, r.rating) for r in reviews]
    times = [t for t, _ in pairs]
    forecast, overdue = due_forecast(due_times, now)
    return ReviewStats(
        profile=profile,
        now=now.isoformat(),
        reviews=len(pairs),
        days_studied=len({utc_day(t) for t in times}),
        streak=streak(times, today),
        retention=retention(rating for _, rating in pairs),
        heatmap=heatmap(times, today),
        weekly_retention=weekly_retention(pairs, today),
        forecast=forecast,
        overdue=overdue,
        mastery=list(mastery),
        scheduler=dict(scheduler or {}),
        corrections=dict(corrections or {}),
    )
