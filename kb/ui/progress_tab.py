"""Progress tab: review statistics as Anki users expect them, for one profile.

A calendar heatmap of reviews per day (inline SVG, last 26 weeks), retention per week, the due
forecast for the next 30 days, mastery per family, the due and coming cards, and which FSRS
parameters schedule the profile. The numbers come from `kb.progress(profile).stats()`
(kb/coach/stats.py); this module only draws them.

It refreshes when the tab is opened, after every graded answer or rating in the Interview tab
(that tab's chat changes), when the Interview profile changes, and on Refresh.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from html import escape
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from kb.errors import KbError
from kb.ui.interview_tab import progress_store
from kb.ui.render import escape_text

if TYPE_CHECKING:
    import pandas as pd

    from kb import ProfileProgress, ProgressStore, ReviewStats
    from kb.knowledge import KnowledgeBase
    from kb.ui.nav import Nav

    # (scheduler, heatmap, retention, forecast, mastery, due cards): every output of the tab
    ProgressView = tuple[str, str, pd.DataFrame, pd.DataFrame, pd.DataFrame, str]

CELL, GAP, LEFT, TOP = 11, 3, 30, 16  # heatmap geometry, px
HEAT_COLOURS = ("#ebedf0", "#9be9a8", "#40c463", "#30a14e", "#216e39")  # GitHub's five shades
WEEKDAY_LABELS = {0: "Mon", 2: "Wed", 4: "Fri"}


class _Quiet(TypedDict):
    """Event options for the refreshes nobody asked for: no API entry, no spinner."""

    api_visibility: Literal["undocumented"]
    show_progress: Literal["hidden"]


def progress_tables(kb: KnowledgeBase, store: ProgressStore | None, profile: str) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(mastery DataFrame, reviews-per-day DataFrame, due cards markdown) for one profile."""
    import pandas as pd

    progress = kb.progress(profile, store=store)
    mastery = progress.mastery_by_family()
    mastery_df = pd.DataFrame([{"family": f, "mastery": m, "reviewed": r, "cards": n} for f, m, r, n in mastery],
                              columns=["family", "mastery", "reviewed", "cards"])
    per_day = progress.reviews_per_day()
    days_df = pd.DataFrame([{"day": d, "reviews": n, "mean score": s} for d, n, s in per_day],
                           columns=["day", "reviews", "mean score"])
    return mastery_df, days_df, due_markdown(progress)


def due_markdown(progress: ProfileProgress, limit: int = 15) -> str:
    now = datetime.now(timezone.utc)
    profile = progress.profile
    states = progress.card_states()
    present = [s for s in states.values() if not s.missing_since]
    missing = progress.missing_cards()
    due = sorted((s for s in present if s.due <= now.isoformat()), key=lambda s: s.due)
    upcoming = sorted((s for s in present if s.due > now.isoformat()), key=lambda s: s.due)
    lines = [f"**{len(due)} card(s) due now** · {len(present)} reviewed · {sum(s.reviews for s in present)} review(s) in all for *{escape_text(profile)}*"]
    for s in due[:limit]:
        lines.append(f"- {escape_text(s.question)} — last score {s.last_score}, {s.family}")
    if upcoming:
        lines.append("\n**Coming up**")
        for s in upcoming[:5]:
            lines.append(f"- {escape_text(s.question)} — due {s.due[:16].replace('T', ' ')} UTC")
    if missing:
        lines.append("\n**No longer in the notes** (history kept): " + ", ".join(escape_text(m.question) for m in missing))
    if not states:
        lines = [f"No reviews yet for *{escape_text(profile)}*. Start an interview in the Interview tab."]
    return "\n".join(lines)


# ---- drawing the statistics --------------------------------------------------------------------------------


def summary_html(stats: ReviewStats) -> str:
    """One line over the heatmap: reviews, days, streak, retention."""
    if not stats.reviews:
        return f'<p class="kb-heat-summary">No reviews yet for <em>{escape(stats.profile)}</em>.</p>'
    retention = f"{stats.retention:.0%}" if stats.retention is not None else "—"
    plural = "review" if stats.reviews == 1 else "reviews"
    return (f'<p class="kb-heat-summary"><strong>{stats.reviews} {plural}</strong> on {stats.days_studied} day(s) · '
            f'streak {stats.streak} day(s) · retention {retention} (rated Hard or better) · <em>{escape(stats.profile)}</em></p>')


def heatmap_html(stats: ReviewStats) -> str:
    """A GitHub-style calendar of reviews per day (columns are weeks, Monday on top) as inline SVG."""
    days = stats.heatmap
    levels = stats.heat_levels()
    step = CELL + GAP
    weeks = (len(days) + 6) // 7
    width, height = LEFT + weeks * step, TOP + 7 * step
    parts = [f'<svg class="kb-heatmap" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             f'aria-label="Reviews per day, last {weeks} weeks">']
    for row, label in WEEKDAY_LABELS.items():
        parts.append(f'<text class="kb-heat-label" x="0" y="{TOP + row * step + CELL - 1}">{label}</text>')
    previous_month: int | None = None
    for i, ((day, count), level) in enumerate(zip(days, levels, strict=True)):
        column, row = divmod(i, 7)
        moment = date.fromisoformat(day)
        if row == 0 and moment.month != previous_month:
            if column < weeks - 1:
                parts.append(f'<text class="kb-heat-label" x="{LEFT + column * step}" y="{TOP - 5}">{moment.strftime("%b")}</text>')
            previous_month = moment.month
        title = f"{day}: {count} review{'s' if count != 1 else ''}"
        parts.append(f'<rect class="kb-heat-day" data-day="{day}" data-count="{count}" data-level="{level}" x="{LEFT + column * step}" '
                     f'y="{TOP + row * step}" width="{CELL}" height="{CELL}" rx="2" fill="{HEAT_COLOURS[level]}"><title>{title}</title></rect>')
    parts.append("</svg>")
    legend = "".join(f'<span class="kb-heat-swatch" style="background:{colour}"></span>' for colour in HEAT_COLOURS)
    return (f'<div class="kb-heat">{summary_html(stats)}{"".join(parts)}'
            f'<div class="kb-heat-legend">Less {legend} More · UTC days</div></div>')


def scheduler_markdown(stats: ReviewStats) -> str:
    status = stats.scheduler or {}
    return f"**Scheduler.** {escape_text(status.get('description', 'FSRS default parameters.'))}"


def frames(stats: ReviewStats) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(weekly retention, due forecast, mastery) DataFrames for the plots."""
    import pandas as pd

    retention = pd.DataFrame(
        [{"week": w.week, "retention %": round(100 * w.retention, 1), "reviews": w.reviews}
         for w in stats.weekly_retention if w.retention is not None],
        columns=["week", "retention %", "reviews"],
    )
    forecast = pd.DataFrame([{"day": day, "cards due": n} for day, n in stats.forecast], columns=["day", "cards due"])
    mastery = pd.DataFrame([{"family": f, "mastery": m, "reviewed": r, "cards": n} for f, m, r, n in stats.mastery],
                           columns=["family", "mastery", "reviewed", "cards"])
    return retention, forecast, mastery


def progress_view(kb: KnowledgeBase, store: ProgressStore | None, profile: str, now: datetime | None = None) -> ProgressView:
    """Every output of the tab: (scheduler, heatmap, retention, forecast, mastery, due cards)."""
    progress = kb.progress(profile, store=store)
    stats = progress.stats(now=now)
    retention, forecast, mastery = frames(stats)
    return scheduler_markdown(stats), heatmap_html(stats), retention, forecast, mastery, due_markdown(progress)


def build(kb: KnowledgeBase, nav: Nav, **services: Any) -> None:
    import gradio as gr

    tab = nav.tabs.children[-1] if nav.tabs is not None and nav.tabs.children else None  # the gr.Tab being built
    store: ProgressStore | None
    try:
        store, error = progress_store(kb, services), ""
    except KbError as exc:
        store, error = None, str(exc)
    if error:
        gr.Markdown(f"⚠️ {error}")
        return
    with gr.Row():
        profile = gr.Textbox(label="Profile", value="default", max_lines=1, scale=3, elem_id="kb-progress-profile")
        refresh = gr.Button("Refresh", scale=1, elem_id="kb-progress-refresh")
    scheduler = gr.Markdown("", elem_id="kb-progress-scheduler")
    heat = gr.HTML("", elem_id="kb-progress-heatmap")
    with gr.Row():
        retention = gr.BarPlot(x="week", y="retention %", title="Retention per week (share of reviews rated Hard or better)", y_lim=[0, 100],
                               sort="x", x_label_angle=-45, height=300, min_width=340, elem_id="kb-progress-retention")
        forecast = gr.BarPlot(x="day", y="cards due", title="Due in the next 30 days (today includes overdue; UTC days)", sort="x",
                              x_label_angle=-45, height=300, min_width=340, elem_id="kb-progress-forecast")
    mastery = gr.BarPlot(x="family", y="mastery", title="Mastery per family (mean last score, unreviewed = 0)", y_lim=[0, 100],
                         x_label_angle=-30, height=360, elem_id="kb-progress-mastery")
    due = gr.Markdown("", elem_id="kb-progress-due")
    outputs = [scheduler, heat, retention, forecast, mastery, due]

    def show(name: str) -> ProgressView:
        return progress_view(kb, store, name)

    quiet: _Quiet = {"api_visibility": "undocumented", "show_progress": "hidden"}
    refresh.click(show, inputs=[profile], outputs=outputs, api_visibility="undocumented")
    profile.submit(show, inputs=[profile], outputs=outputs, api_visibility="undocumented")
    nav.demo.load(show, inputs=[profile], outputs=outputs, **quiet)
    if isinstance(tab, gr.Tab):
        tab.select(show, inputs=[profile], outputs=outputs, **quiet)  # fresh numbers whenever the tab is opened
    interview_profile = getattr(nav, "interview_profile", None)
    if interview_profile is not None:
        # One person, one name: this tab follows the profile typed in the Interview tab.
        interview_profile.change(lambda name: (name, *show(name)), inputs=[interview_profile], outputs=[profile, *outputs], **quiet)
    interview_chat = getattr(nav, "interview_chat", None)
    if interview_chat is not None and interview_profile is not None:
        # Each graded answer or rating changes the interview chat: count it here at once.
        interview_chat.change(lambda name: (name, *show(name)), inputs=[interview_profile], outputs=[profile, *outputs], **quiet)
