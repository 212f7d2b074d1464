"""Review statistics and the FSRS fit, on real SQLite stores and the real `kb` command.

Statistics are checked against a seeded history whose answers are known by hand (reviews per day,
retention per week, the due forecast from fsrs's first intervals). The fit is checked on a history
simulated from known, non-default FSRS weights with a fixed RNG: the fitted weights must predict the
held-out 20 % better than the defaults, be stored, and schedule the next reviews.
"""
from __future__ import annotations

import json
import math
import random
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from kb.coach import fsrs_fit, stats
from kb.coach.progress import ProgressStore
from kb.notes.cards import Card
from tests.support import kb_env, kb_subprocess

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=timezone.utc)  # a Wednesday
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=timezone.utc)


def card(card_id: str, family: str = "Synthetic") -> Card:
    return Card(id=card_id, note="n.md", family=family, question=f"Q {card_id}?", answer_md="A.", answer_text="A.", line_start=1, line_end=2)


# ---- the pure functions ----------------------------------------------------------------------------------


def test_heatmap_counts_reviews_per_utc_day_over_26_whole_weeks():
    times = [at("2026-12-02", 1), at("2026-12-02", 23), "2026-12-01T23:30:00-02:00",  # 01:30 UTC on 12-02
             at("2026-11-30"), at("2026-06-08"), at("2026-06-07"), at("2025-12-31")]
    grid = stats.heatmap(times, NOW.date())
    days = dict(grid)
    assert grid[0][0] == "2026-06-08" and date.fromisoformat(grid[0][0]).weekday() == 0, grid[0]
    assert grid[-1][0] == "2026-12-02" and len(grid) == 25 * 7 + 3, (grid[-1], len(grid))
    assert days["2026-12-02"] == 3 and days["2026-11-30"] == 1 and days["2026-06-08"] == 1, days
    assert "2026-06-07" not in days and sum(days.values()) == 5, "reviews before the first Monday are outside the grid"
    assert [stats.heat_level(n, 8) for n in (0, 1, 2, 3, 4, 5, 8)] == [0, 1, 1, 2, 2, 3, 4]


def test_weekly_retention_is_the_share_rated_hard_or_better():
    reviews = [(at("2026-11-30"), "good"), (at("2026-12-01"), "again"), (at("2026-12-02"), "hard"), (at("2026-12-02"), "easy"),
               (at("2026-11-24"), "again"), (at("2026-11-23"), "again"), (at("2026-01-05"), "good")]
    weeks = stats.weekly_retention(reviews, NOW.date())
    by_week = {w.week: (w.reviews, w.passed, w.retention) for w in weeks}
    assert len(weeks) == 26 and weeks[-1].week == "2026-11-30" and weeks[0].week == "2026-06-08", [w.week for w in weeks[:2]]
    assert by_week["2026-11-30"] == (4, 3, 0.75), by_week["2026-11-30"]
    assert by_week["2026-11-23"] == (2, 0, 0.0), by_week["2026-11-23"]
    assert by_week["2026-11-16"] == (0, 0, None)
    assert stats.retention(r for _, r in reviews) == round(4 / 7, 4)


def test_due_forecast_counts_cards_per_day_and_the_overdue_today():
    dues = [NOW - timedelta(days=3), NOW - timedelta(minutes=1), NOW + timedelta(hours=2), NOW + timedelta(hours=10),  # 10 h: tomorrow
            (NOW + timedelta(days=6)).isoformat(), NOW + timedelta(days=29), NOW + timedelta(days=31)]
    forecast, overdue = stats.due_forecast(dues, NOW)
    assert overdue == 2
    assert len(forecast) == 30 and forecast[0] == ("2026-12-02", 3) and forecast[1] == ("2026-12-03", 1), forecast[:2]
    assert dict(forecast)["2026-12-08"] == 1 and forecast[-1] == ("2026-12-31", 1), forecast[-1]
    assert sum(n for _, n in forecast) == 6, "a card due after 30 days is not in the forecast"


def test_a_streak_survives_until_the_day_is_over():
    assert stats.streak([at("2026-12-02"), at("2026-12-01"), at("2026-11-30"), at("2026-11-28")], NOW.date()) == 3
    assert stats.streak([at("2026-12-01"), at("2026-11-30")], NOW.date()) == 2
    assert stats.streak([at("2026-11-30")], NOW.date()) == 0


# ---- statistics of a seeded store ----------------------------------------------------------------------------


def test_profile_stats_from_a_seeded_history(shipped_kb, tmp_path):
    first, second, third, fourth, fifth, sixth = shipped_kb.cards()[:6]
    with ProgressStore(tmp_path / "progress.sqlite3") as store:
        # fsrs's first intervals: Easy -> 8 days, Good -> 10 min, Hard -> 5.5 min, Again -> 1 min
        store.record_review("ana", first, "a", 95, rating="easy", now=at("2026-11-30", 12))
        store.record_review("ana", second, "a", 92, rating="easy", now=at("2026-11-30", 13))
        store.record_review("ana", third, "a", 80, rating="good", now=at("2026-12-02", 14))
        store.record_review("ana", fourth, "a", 20, rating="again", now=at("2026-12-01", 8))
        store.record_review("ana", fifth, "a", 60, rating="hard", now=at("2026-10-15"))
        store.record_review("ana", sixth, "a", 75, rating="good", now=at("2026-01-10"))  # before the heatmap's 26 weeks
        store.record_review("ana", card("a-card-no-longer-in-the-notes"), "a", 90, rating="good", now=at("2026-12-01", 9))
        store.record_review("ben", first, "b", 10, rating="again", now=at("2026-12-02"))  # another profile
        result = shipped_kb.progress("ana", store=store).stats(now=NOW)

    days = dict(result.heatmap)
    assert (result.reviews, result.days_studied, result.streak) == (7, 5, 3), (result.reviews, result.days_studied, result.streak)
    assert (days["2026-11-30"], days["2026-12-01"], days["2026-12-02"], days["2026-10-15"]) == (2, 2, 1, 1), days
    assert sum(days.values()) == 6, "the January review is outside the 26 weeks"
    weeks = {w.week: (w.reviews, w.passed) for w in result.weekly_retention}
    assert weeks["2026-11-30"] == (5, 4) and weeks["2026-10-12"] == (1, 1), weeks
    assert result.retention == round(6 / 7, 4)
    forecast = dict(result.forecast)
    # today: the 10-minute, 5.5-minute and 1-minute steps (overdue) and January's card; the two Easy cards on 12-08;
    # the card no longer in the notes is not forecast
    assert (forecast["2026-12-02"], result.overdue, forecast["2026-12-08"], sum(forecast.values())) == (4, 4, 2, 6), (forecast, result.overdue)
    mastery = {family: (m, reviewed, cards) for family, m, reviewed, cards in result.mastery}
    family_cards = len(shipped_kb.family_cards(first.family))
    reviewed = [c for c in (first, second, third, fourth, fifth, sixth) if c.family == first.family]
    scores = {first.id: 95, second.id: 92, third.id: 80, fourth.id: 20, fifth.id: 60, sixth.id: 75}
    assert mastery[first.family] == (round(sum(scores[c.id] for c in reviewed) / family_cards, 1), len(reviewed), family_cards), mastery
    assert result.scheduler["source"] == "default" and "default" in result.scheduler["description"]
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["heatmap"][-1] == {"day": "2026-12-02", "reviews": 1} and payload["forecast"][0] == {"day": "2026-12-02", "due": 4}
    assert payload["weekly_retention"][-1] == {"week": "2026-11-30", "reviews": 5, "passed": 4, "retention": 0.8}


def test_the_progress_tab_draws_the_statistics(shipped_kb, tmp_path):
    from kb.ui.progress_tab import progress_view

    name = "<img src=x onerror=alert(1)>"
    with ProgressStore(tmp_path / "progress.sqlite3") as store:
        store.record_review(name, shipped_kb.cards()[0], "a", 95, rating="easy", now=at("2026-11-30", 12))
        store.record_review(name, shipped_kb.cards()[1], "a", 20, rating="again", now=at("2026-12-02", 12))
        scheduler, heat, retention, forecast, mastery, due = progress_view(shipped_kb, store, name, now=NOW)
    assert "FSRS default parameters" in scheduler
    assert "<img" not in heat and "&lt;img" in heat, "the profile name is escaped"
    assert heat.count('class="kb-heat-day"') == 25 * 7 + 3 and 'data-day="2026-11-30" data-count="1" data-level="4"' in heat
    assert "<strong>2 reviews</strong> on 2 day(s)" in heat and "retention 50%" in heat
    assert retention["retention %"].tolist() == [50.0] and retention["reviews"].tolist() == [2]
    assert forecast["cards due"].sum() == 2 and forecast.iloc[0]["cards due"] == 1 and len(forecast) == 30
    assert mastery["reviewed"].sum() == 2 and "2 reviewed" in due


# ---- the fit ------------------------------------------------------------------------------------------------


def true_weights() -> list[float]:
    """Non-default weights: a memory that starts weaker (w0-w3), grows slower (w8) and decays faster (w20)."""
    from fsrs.scheduler import DEFAULT_PARAMETERS

    weights = list(DEFAULT_PARAMETERS)
    weights[0:4] = [0.1, 0.4, 1.0, 3.0]
    weights[8] = 1.2
    weights[20] = 0.5
    return weights


def simulate(weights, cards: int = 70, days: int = 220, seed: int = 11) -> list[tuple[str, datetime, str]]:
    """(card id, time, rating) from fsrs's own model with `weights`: each review is recalled with the
    model's retrievability; reviews come 1 to 40 days apart (log-uniform), so recall varies widely."""
    from fsrs import Card as FsrsCard, Rating, Scheduler

    rng = random.Random(seed)
    scheduler = Scheduler(parameters=weights, enable_fuzzing=False)
    end = T0 + timedelta(days=days)
    events = []
    for number in range(1, cards + 1):
        moment = T0 + timedelta(days=rng.uniform(0, days * 0.7), hours=rng.uniform(0, 12))
        state = FsrsCard(card_id=number, due=moment)
        first = True
        while moment < end:
            if first:
                rating = rng.choices([Rating.Again, Rating.Hard, Rating.Good, Rating.Easy], [0.15, 0.15, 0.55, 0.15])[0]
                first = False
            elif rng.random() < scheduler.get_card_retrievability(state, moment):
                rating = rng.choices([Rating.Hard, Rating.Good, Rating.Easy], [0.2, 0.65, 0.15])[0]
            else:
                rating = Rating.Again
            state, _ = scheduler.review_card(state, rating, review_datetime=moment)
            events.append((f"card-{number}", moment, rating.name.lower()))
            moment += timedelta(days=math.exp(rng.uniform(0.05, math.log(40))))
    return sorted(events, key=lambda event: event[1])


def seed(store: ProgressStore, profile: str, events) -> None:
    cards = {}
    for card_id, moment, rating in events:
        store.record_review(profile, cards.setdefault(card_id, card(card_id)), "", 50, rating=rating, now=moment)


@pytest.fixture(scope="module")
def simulated_history():
    return simulate(true_weights())


@pytest.fixture(scope="module")
def simulated_store(tmp_path_factory, simulated_history):
    """A real store holding the simulated history under "sim" and its first 150 reviews under "few"."""
    path = tmp_path_factory.mktemp("fit") / "progress.sqlite3"
    with ProgressStore(path) as store:
        seed(store, "sim", simulated_history)
        seed(store, "few", simulated_history[:150])
        yield store


def test_the_simulated_history_passes_the_threshold(simulated_history):
    logs = fsrs_fit.review_logs([SimpleNamespace(card_id=c, reviewed_at=t, rating=r) for c, t, r in simulated_history])
    start = fsrs_fit.split(logs)
    assert start == int(len(logs) * 0.8)
    train = fsrs_fit.learnable(logs[:start])
    assert train >= fsrs_fit.MIN_TRAIN_REVIEWS, f"only {train} learnable reviews in the training part"
    # the truth predicts the held-out reviews better than the defaults: there is something to learn
    assert fsrs_fit.evaluate(true_weights(), logs, start)[0] < fsrs_fit.evaluate(None, logs, start)[0]


@pytest.mark.slow
def test_fitted_parameters_beat_the_defaults_and_schedule_the_profile(shipped_kb, simulated_store):
    from fsrs import Card as FsrsCard, Rating, Scheduler

    progress = shipped_kb.progress("sim", store=simulated_store)
    assert progress.scheduler_status().source == "default"
    result = progress.optimize_fsrs(now=NOW)
    assert result.status == "adopted", result.message
    assert result.loss_fitted < result.loss_default, (result.loss_fitted, result.loss_default)
    assert result.train_reviews >= 512 and result.holdout_reviews >= 50 and result.reviews == len(progress.reviews())
    assert result.rmse_fitted is not None and result.rmse_default is not None
    # stored ...
    stored = simulated_store.fits("sim")
    assert len(stored) == 1 and stored[0].adopted and stored[0].parameters == pytest.approx(result.parameters)
    assert stored[0].loss_fitted == pytest.approx(result.loss_fitted) and stored[0].fitted_at == NOW.isoformat()
    status = progress.scheduler_status()
    assert status.source == "fitted" and status.parameters == pytest.approx(result.parameters)
    assert "fitted to you on 2026-12-02" in status.describe() and f"{result.loss_fitted:.4f}" in status.describe()
    assert progress.stats(now=NOW).scheduler["source"] == "fitted"
    # ... and used: a card's reviews follow fsrs with the fitted weights, not the defaults
    fitted_scheduler, default_scheduler = Scheduler(parameters=result.parameters, enable_fuzzing=False), Scheduler(enable_fuzzing=False)
    expected = {"fitted": FsrsCard(card_id=0, due=NOW), "default": FsrsCard(card_id=0, due=NOW)}
    for rating, days in ((Rating.Again, 0), (Rating.Good, 1), (Rating.Good, 3)):
        moment = NOW + timedelta(days=days)
        simulated_store.record_review("sim", card("a-new-card"), "", 50, rating=rating.name.lower(), now=moment)
        simulated_store.record_review("someone-else", card("a-new-card"), "", 50, rating=rating.name.lower(), now=moment)
        expected["fitted"], _ = fitted_scheduler.review_card(expected["fitted"], rating, review_datetime=moment)
        expected["default"], _ = default_scheduler.review_card(expected["default"], rating, review_datetime=moment)
    state = simulated_store.card_states("sim")["a-new-card"].state
    assert state == expected["fitted"].to_dict(), (state, expected["fitted"].to_dict())
    assert state["stability"] != pytest.approx(expected["default"].stability), "the fitted weights give another stability"
    # other profiles keep the defaults
    assert simulated_store.card_states("someone-else")["a-new-card"].state == expected["default"].to_dict()


def test_below_the_threshold_it_says_so_and_keeps_the_defaults(shipped_kb, simulated_store):
    progress = shipped_kb.progress("few", store=simulated_store)
    result = progress.optimize_fsrs(now=NOW)
    assert result.status == "not_enough" and result.parameters is None, result
    assert "Not enough reviews" in result.message and "512" in result.message and "default parameters stay" in result.message
    assert result.train_reviews < fsrs_fit.MIN_TRAIN_REVIEWS
    assert simulated_store.fits("few") == []
    assert progress.scheduler_status().source == "default"


def test_a_fit_that_does_not_predict_better_leaves_the_defaults_in_use(tmp_path):
    from kb.coach import scheduling

    weights = true_weights()
    rejected = fsrs_fit.FitResult("rejected", "", NOW.isoformat(), 900, 600, 150, weights, 0.30, 0.31, 0.05, 0.06)
    with ProgressStore(tmp_path / "progress.sqlite3") as store:
        store.record_fit("cleo", rejected)
        status = store.scheduler_status("cleo")
        assert status.source == "default" and status.parameters == list(scheduling.default_parameters())
        assert "did not predict better" in status.describe() and "defaults stay" in status.describe()
        review = store.record_review("cleo", card("x"), "", 95, rating="easy", now=NOW)
        assert datetime.fromisoformat(review.due) == NOW + timedelta(days=8), "the default Easy interval"
        # a later adopted fit takes over; the latest fit decides
        store.record_fit("cleo", fsrs_fit.FitResult("adopted", "", NOW.isoformat(), 900, 600, 150, weights, 0.30, 0.29, 0.05, 0.04))
        assert store.scheduler_status("cleo").source == "fitted"
        assert datetime.fromisoformat(store.record_review("cleo", card("y"), "", 95, rating="easy", now=NOW).due) == NOW + timedelta(days=3)


# ---- the `kb` command in a subprocess ------------------------------------------------------------------------


def shipped_env(shipped_kb, home):
    return kb_env(home, KB_CORPUS=str(shipped_kb.config.corpus), KB_INDEX=str(shipped_kb.config.index))


def test_kb_stats_json_in_a_subprocess(shipped_kb, tmp_path):
    now = datetime.now(timezone.utc)
    first, second = shipped_kb.cards()[:2]
    with ProgressStore(tmp_path / "data" / "progress.sqlite3") as store:
        store.record_review("dora", first, "a", 95, rating="easy", now=now - timedelta(hours=2))
        store.record_review("dora", second, "b", 10, rating="again", now=now - timedelta(days=1))
    done = kb_subprocess("stats", "--profile", "dora", "--json", env=shipped_env(shipped_kb, tmp_path))
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    heat = {row["day"]: row["reviews"] for row in payload["heatmap"]}
    recent, yesterday = (now - timedelta(hours=2)).date().isoformat(), (now - timedelta(days=1)).date().isoformat()
    assert payload["reviews"] == 2 and payload["retention"] == 0.5 and sum(heat.values()) == 2, payload
    assert heat[recent] == 1 + (recent == yesterday) and heat[yesterday] >= 1
    forecast = {row["day"]: row["due"] for row in payload["forecast"]}
    easy_due = (now - timedelta(hours=2) + timedelta(days=8)).date().isoformat()
    assert forecast[now.date().isoformat()] == 1 and forecast[easy_due] == 1 and payload["overdue"] == 1, forecast
    assert payload["scheduler"]["source"] == "default" and len(payload["mastery"]) == len(shipped_kb.families())

    text = kb_subprocess("stats", "--profile", "dora", env=shipped_env(shipped_kb, tmp_path))
    assert text.returncode == 0, text.stderr
    assert f"2 reviews on {len({recent, yesterday})} day(s)" in text.stdout and "retention 50.0%" in text.stdout and "Mon  " in text.stdout, text.stdout


@pytest.mark.slow
def test_kb_fsrs_optimize_in_a_subprocess(shipped_kb, simulated_history, tmp_path):
    with ProgressStore(tmp_path / "data" / "progress.sqlite3") as store:
        seed(store, "sim", simulated_history)
        seed(store, "few", simulated_history[:150])
    env = shipped_env(shipped_kb, tmp_path)
    few = kb_subprocess("fsrs", "optimize", "--profile", "few", env=env)
    assert few.returncode == 0, few.stderr
    assert "Not enough reviews" in few.stdout and "FSRS default parameters" in few.stdout, few.stdout

    done = kb_subprocess("fsrs", "optimize", "--profile", "sim", "--json", env=env)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["status"] == "adopted" and payload["loss_fitted"] < payload["loss_default"], payload
    assert payload["in_use"]["source"] == "fitted" and payload["in_use"]["parameters"] == pytest.approx(payload["parameters"])
    shown = kb_subprocess("fsrs", "show", "--profile", "sim", env=env)
    assert shown.returncode == 0 and "fitted to you on" in shown.stdout, shown.stdout + shown.stderr
    with ProgressStore(tmp_path / "data" / "progress.sqlite3") as store:
        assert store.scheduler_status("sim").parameters == pytest.approx(payload["parameters"])
        assert store.scheduler_status("few").source == "default"
