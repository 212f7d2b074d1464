"""Interview tab: a chat with the mock interviewer. The logic is kb/coach/interview.py; this module only formats.

Each browser session holds its own InterviewSession in a gr.State; the progress store is shared
(one SQLite file, one connection guarded by a lock) and each session writes under its profile name.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypedDict

from kb import RATING_NAMES, InterviewSession, rating_explanation
from kb.errors import KbError
from kb.ui import voice
from kb.ui.render import LATEX_DELIMITERS, note_markdown, user_markdown

if TYPE_CHECKING:
    import gradio as gr

    from kb import ProgressStore, Turn
    from kb.knowledge import KnowledgeBase
    from kb.ui.nav import Nav

MODE_LABELS = {"Due first (spaced repetition)": "due", "Weakest first": "weakest", "Random": "random"}
LENGTHS = [3, 5, 10, 15]
ALL_FAMILIES = "All families"
# One message of a gr.Chatbot's history: {"role": "user" | "assistant", "content": markdown} (gradio may add keys).
ChatMessage = dict[str, Any]


class Choices(TypedDict):
    """A gr.CheckboxGroup update: its choices and the ones ticked."""

    choices: list[str]
    value: list[str]


def progress_store(kb: KnowledgeBase, services: dict[str, Any]) -> ProgressStore:
    """The store passed to build_app (progress_store=...), else the knowledge base's own (KB_DATA), opened once."""
    if services.get("progress_store") is not None:
        store: ProgressStore = services["progress_store"]
        return store
    return kb.progress_store()  # raises ProgressStoreError naming the file


def _assistant(turns: Iterable[Turn]) -> list[ChatMessage]:
    return [{"role": "assistant", "content": note_markdown(turn.text)} for turn in turns]


def _rating_prompt(session: InterviewSession | None) -> str:
    asked = session.last_graded if session else None
    if asked is None:
        return ""
    return (f"**Rating for the last answer: {(asked.rating or '').capitalize()}** (suggested from the score: {rating_explanation()}). "
            "Click another rating to change it.")


def tidy_families(chosen: list[str] | None) -> list[str]:
    """Picking a family drops "All families"; picking "All families" (or nothing) drops the rest."""
    chosen = [f for f in (chosen or []) if f]
    if not chosen or (chosen[-1] == ALL_FAMILIES):
        return [ALL_FAMILIES]
    return [f for f in chosen if f != ALL_FAMILIES]


def start(kb: KnowledgeBase, store: ProgressStore | None, profile: str, families: list[str] | None, length: int | None,
          mode_label: str) -> tuple[InterviewSession | None, list[ChatMessage], str]:
    """New session -> (session, chat history, rating note). Errors become a chat message."""
    chosen = [f for f in (families or []) if f and f != ALL_FAMILIES] or None
    mode = MODE_LABELS.get(mode_label, mode_label or "due")
    try:
        if store is None:
            raise KbError("the progress database could not be opened (see the message above)")
        session = kb.interview(profile=profile, families=chosen, length=int(length or 5), mode=mode, store=store)
        turns = session.start()
    except KbError as exc:
        return None, [{"role": "assistant", "content": f"⚠️ {note_markdown(str(exc))}"}], ""
    return session, _assistant(turns), ""


def send(session: InterviewSession | None, text: str, history: list[ChatMessage] | None) -> tuple[InterviewSession | None, list[ChatMessage], str, str]:
    """An answer or a command typed by the user -> (session, history, cleared input, rating note)."""
    history = list(history or [])
    text = (text or "").strip()
    if not text:
        return session, history, "", _rating_prompt(session)
    if session is None:
        history.append({"role": "assistant", "content": "Press **Start interview** first."})
        return session, history, "", ""
    history.append({"role": "user", "content": user_markdown(text)})
    try:
        turns = session.handle(text)
    except KbError as exc:
        turns = []
        history.append({"role": "assistant", "content": f"⚠️ {note_markdown(str(exc))}"})
    history += _assistant(turns)
    return session, history, "", _rating_prompt(session)


def transcribe_answer(kb: KnowledgeBase, session: InterviewSession | None, audio_path: str | None, text: str | None) -> tuple[str, str]:
    """A recorded answer -> (the answer box's text, a status line), biased toward the asked card's terms."""
    asked = session.current if session is not None else None
    return voice.transcript_into(kb, audio_path, text, asked.card_id if asked is not None else None)


def rate(session: InterviewSession | None, rating: str, history: list[ChatMessage] | None) -> tuple[InterviewSession | None, list[ChatMessage], str]:
    """One click on Again/Hard/Good/Easy: override the last answer's rating."""
    history = list(history or [])
    if session is None or session.last_graded is None:
        return session, history, ""
    try:
        turn = session.set_rating(rating)
    except KbError as exc:
        history.append({"role": "assistant", "content": f"⚠️ {note_markdown(str(exc))}"})
        return session, history, _rating_prompt(session)
    history += _assistant([turn])
    return session, history, _rating_prompt(session)


def correction_choices(session: InterviewSession | None) -> tuple[Choices, Choices]:
    """The last grade's key points (those it found said, ticked) and its contradictions, to correct."""
    asked = session.last_graded if session else None
    grade = asked.grade if asked else None
    if grade is None:
        return {"choices": [], "value": []}, {"choices": [], "value": []}
    points = [p.text for p in grade.key_points]
    said = [c.point for c in grade.covered]
    clashes = list(dict.fromkeys(c.card_sentence for c in grade.contradictions))
    return {"choices": points, "value": said}, {"choices": clashes, "value": []}


def apply_marks(session: InterviewSession | None, label: str | None, said: list[str] | None, dismissed: list[str] | None,
                history: list[ChatMessage] | None) -> tuple[InterviewSession | None, list[ChatMessage], str]:
    """The user's corrections of the last grade -> (session, history, rating note). Only what the user
    changed is a label: a point ticked that the grader had not found, or unticked that it had."""
    history = list(history or [])
    asked = session.last_graded if session else None
    if session is None or asked is None or asked.grade is None:
        return session, history, _rating_prompt(session)
    covered = {c.point for c in asked.grade.covered}
    ticked = set(said or [])
    marks = {p.text: p.text in ticked for p in asked.grade.key_points if (p.text in ticked) != (p.text in covered)}
    try:
        turn = session.mark(label, marks, list(dismissed or []))
    except KbError as exc:
        history.append({"role": "assistant", "content": f"⚠️ {note_markdown(str(exc))}"})
        return session, history, _rating_prompt(session)
    history += _assistant([turn])
    return session, history, _rating_prompt(session)


def build(kb: KnowledgeBase, nav: Nav, **services: Any) -> None:
    import gradio as gr

    store: ProgressStore | None
    store_error = ""
    try:
        store = progress_store(kb, services)
    except KbError as exc:
        store, store_error = None, str(exc)

    if store_error:
        gr.Markdown(f"⚠️ {store_error}", elem_id="kb-interview-store-error")
    with gr.Row():
        profile = gr.Textbox(label="Profile", value="default", max_lines=1, scale=1, elem_id="kb-interview-profile")
        nav.interview_profile = profile  # the Progress tab follows it
        families = gr.Dropdown(choices=[ALL_FAMILIES] + [name for name, _ in kb.families()], value=[ALL_FAMILIES], multiselect=True,
                               label="Families", scale=3, elem_id="kb-interview-families")
        length = gr.Dropdown(choices=LENGTHS, value=5, label="Questions", scale=1, elem_id="kb-interview-length")
        mode = gr.Radio(choices=list(MODE_LABELS), value=next(iter(MODE_LABELS)), label="Order", scale=2, elem_id="kb-interview-mode")
    start_button = gr.Button("Start interview", variant="primary", elem_id="kb-interview-start")
    chatbot = gr.Chatbot(label="Interview", elem_id="kb-interview-chat", latex_delimiters=LATEX_DELIMITERS, sanitize_html=True,
                         height=560, feedback_options=None, buttons=["copy"],
                         placeholder="Pick families, a length and an order, then press **Start interview**.")
    nav.interview_chat = chatbot  # changes after every graded answer and rating: the Progress tab refreshes on it
    rating_note = gr.Markdown("", elem_id="kb-interview-rating-note")
    with gr.Row():
        rating_buttons = [gr.Button(name.capitalize(), size="sm", elem_id=f"kb-rate-{name}") for name in RATING_NAMES]
    with gr.Accordion("Correct the grade (kb learns from it)", open=False, elem_id="kb-corrections"):
        said_box = gr.CheckboxGroup(label="Key points you said", choices=[], elem_id="kb-interview-points")
        dismiss_box = gr.CheckboxGroup(label="Not a contradiction", choices=[], elem_id="kb-interview-dismiss")
        with gr.Row():
            mark_right = gr.Button("My answer was right", size="sm", elem_id="kb-mark-right")
            mark_wrong = gr.Button("My answer was wrong", size="sm", elem_id="kb-mark-wrong")
            mark_points = gr.Button("Save these marks", size="sm", elem_id="kb-mark-points")
    with gr.Row():
        answer = gr.Textbox(label="Your answer", placeholder="Answer as you would say it, or type hint / skip / repeat / end",
                            lines=3, scale=5, elem_id="kb-interview-answer")
        recording = voice.microphone("kb-interview-audio", "Answer out loud")  # None without the voice extra
        submit = gr.Button("Send", variant="primary", scale=1, elem_id="kb-interview-send")
    voice_status = gr.Markdown("", elem_id="kb-interview-voice-status")
    with gr.Row():
        command_buttons = {name: gr.Button(name.capitalize(), size="sm", elem_id=f"kb-interview-{name}") for name in ("hint", "skip", "repeat", "end")}
    session = gr.State(None)
    if recording is not None:  # the transcript goes into the answer box, to correct before sending
        voice.wire(recording, lambda path, text, s: transcribe_answer(kb, s, path, text), inputs=[recording, answer, session],
                   outputs=[answer, voice_status])
    families.input(tidy_families, inputs=[families], outputs=[families], queue=False, api_visibility="undocumented")

    start_button.click(lambda p, f, n, m: start(kb, store, p, f, n, m), inputs=[profile, families, length, mode],
                       outputs=[session, chatbot, rating_note], api_name="interview_start", api_visibility="undocumented")
    answer.submit(send, inputs=[session, answer, chatbot], outputs=[session, chatbot, answer, rating_note], api_visibility="undocumented")
    # Stable names so benchmarks/load_test.py can drive an interview through gradio_client.
    submit.click(send, inputs=[session, answer, chatbot], outputs=[session, chatbot, answer, rating_note], api_name="interview_answer",
                 api_visibility="undocumented")
    for name, button in command_buttons.items():
        button.click(lambda s, h, name=name: send(s, name, h)[:2] + (_rating_prompt(s),), inputs=[session, chatbot],
                     outputs=[session, chatbot, rating_note], api_visibility="undocumented")
    for name, button in zip(RATING_NAMES, rating_buttons, strict=True):
        button.click(lambda s, h, name=name: rate(s, name, h), inputs=[session, chatbot], outputs=[session, chatbot, rating_note],
                     api_visibility="undocumented")

    def choices(s: InterviewSession | None) -> tuple[gr.CheckboxGroup, gr.CheckboxGroup]:
        points, clashes = correction_choices(s)
        return gr.CheckboxGroup(**points), gr.CheckboxGroup(**clashes)

    for label, button in ((None, mark_points), ("right", mark_right), ("wrong", mark_wrong)):
        button.click(lambda s, said, dis, h, label=label: apply_marks(s, label, said, dis, h), inputs=[session, said_box, dismiss_box, chatbot],
                     outputs=[session, chatbot, rating_note], api_visibility="undocumented").then(
            choices, inputs=session, outputs=[said_box, dismiss_box], api_visibility="undocumented")
    # After every answer the boxes show that grade's key points and contradictions.
    chatbot.change(choices, inputs=session, outputs=[said_box, dismiss_box], api_visibility="undocumented", queue=False)
