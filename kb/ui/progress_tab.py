"""Progress tab: mastery per family (bar chart), reviews over time (line chart), due and missing cards."""
from __future__ import annotations

from datetime import datetime, timezone

from kb.errors import KbError
from kb.ui.interview_tab import progress_store
from kb.ui.render import escape_text

TAB_LABEL = "Progress"


def progress_tables(kb, store, profile: str):
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


def due_markdown(progress, limit: int = 15) -> str:
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


def build(kb, nav, **services):
    import gradio as gr

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
    with gr.Row():
        mastery = gr.BarPlot(x="family", y="mastery", title="Mastery per family (mean last score, unreviewed = 0)", y_lim=[0, 100],
                             x_label_angle=-30, height=360, elem_id="kb-progress-mastery")
        reviews = gr.LinePlot(x="day", y="reviews", title="Reviews per day", height=360, elem_id="kb-progress-reviews")
    due = gr.Markdown("", elem_id="kb-progress-due")

    def show(name):
        return progress_tables(kb, store, name)

    refresh.click(show, inputs=[profile], outputs=[mastery, reviews, due], api_visibility="undocumented")
    profile.submit(show, inputs=[profile], outputs=[mastery, reviews, due], api_visibility="undocumented")
    nav.demo.load(show, inputs=[profile], outputs=[mastery, reviews, due], api_visibility="undocumented")
    interview_profile = getattr(nav, "interview_profile", None)
    if interview_profile is not None:
        # One person, one name: this tab follows the profile typed in the Interview tab.
        interview_profile.change(lambda name: (name, *show(name)), inputs=[interview_profile], outputs=[profile, mastery, reviews, due],
                                 api_visibility="undocumented")
