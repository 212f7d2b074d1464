"""Chat tab: grounded offline Q&A over the cards. The logic is kb.ask (kb/coach/chat.py); this module renders its replies.

Three outcomes look different: an answer is the card's words with its sources; "closest" says in one line
that the notes may not cover the question, names the question's words the card never uses, and shows the
card; "not in your notes" offers the nearest cards. "Not what I asked" marks an answer wrong for the
profile in the box: that question is asked again, and never answered from that card for that profile.
"""
from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import quote

from kb import ChatReply, KbError
from kb.ui import voice
from kb.ui.interview_tab import ChatMessage, progress_store
from kb.ui.render import LATEX_DELIMITERS, note_markdown, user_markdown

if TYPE_CHECKING:
    import gradio as gr

    from kb import ProgressStore
    from kb.knowledge import KnowledgeBase
    from kb.ui.nav import Nav

MAX_FOLLOW_UPS = 3



class Answered(TypedDict):
    """What "Not what I asked" marks: the question of an answer and the card it came from (kept in a gr.State)."""

    question: str
    card: str


PLACEHOLDER = "Ask about your notes, e.g. *why does PPO clip the ratio?* Follow-ups like *how is that different from TRPO?* use the conversation so far."


def _card_link(card_id: str, label: str) -> str:
    safe = re.sub(r"([\[\]\\`*_<>])", r"\\\1", label)
    return f"[{safe}](?card={quote(card_id, safe='')})"


def reply_text(reply: ChatReply) -> str:
    """The reply as markdown for the app: the card's words, links that open cards in place, sources."""
    if reply.error:
        return f"{reply.error}."
    if reply.abstained:
        shown = html.escape(reply.message[:160], quote=False)  # the user's text, shown as text
        lines = [f"I don't know: nothing in your notes matches “{shown}” closely enough, so I won't guess."]
        if reply.unfamiliar:
            names = ", ".join(f"**{html.escape(name, quote=False)}**" for name in reply.unfamiliar)
            lines.append(f"Your notes never mention {names}.")
        if reply.nearest_families:
            lines.append("The nearest families in your notes are " + ", ".join(f"**{f}**" for f in reply.nearest_families) + ".")
        lines.append("Try rephrasing with the terms your notes use, or one of the nearest cards below.")
        return "\n\n".join(lines)
    card = reply.card
    assert card is not None  # an answer or the closest card always has its card (only abstaining has none)
    if reply.outcome == "closest":
        lines = [f"🔶 **Your notes may not cover this.** The closest card is {_card_link(card.id, card.question)} · *{card.family}*."]
        if reply.missing:
            words = ", ".join(f"**{html.escape(word, quote=False)}**" for word in reply.missing)
            lines.append(f"It never mentions {words}.")
        lines.append(reply.excerpt)
        if len(reply.nearest) > 1:
            lines.append("**Also near:** " + " · ".join(f"{_card_link(c.id, c.question)} ({c.family})" for c in reply.nearest[1:]))
        return "\n\n".join(lines)
    parts = [f"**{card.question}** · *{card.family}*", reply.excerpt]
    if reply.cut:
        parts.append(f"*(the most relevant part; the whole answer is in {_card_link(card.id, 'the card')})*")
    sources = " · ".join(f"{_card_link(c.id, c.question)} ({c.family})" for c in reply.citations)
    parts.append(f"**Sources:** {sources}")
    return "\n\n".join(parts)


def reply_markdown(reply: ChatReply) -> str:
    """The assistant message: the reply's markdown with currency dollars made safe for KaTeX."""
    return note_markdown(reply_text(reply))


def respond(kb: KnowledgeBase, message: str, history: list[ChatMessage] | None, topic: str | None = None, profile: str | None = None,
            store: ProgressStore | None = None) -> tuple[list[ChatMessage], str, list[str], ChatReply | None]:
    """One chat turn: (new history, cleared input, follow-up labels, the reply). `topic` is the last reply's topic;
    `profile` whose "not what I asked" marks apply (in `store`)."""
    history = list(history or [])
    if not (message or "").strip():
        return history, "", [], None
    reply = kb.ask(message, topic=topic if history else None, profile=(profile or "default") if store is not None else None, store=store)
    history += [
        {"role": "user", "content": user_markdown(message)},
        {"role": "assistant", "content": reply_markdown(reply)},
    ]
    return history, "", reply.follow_ups[:MAX_FOLLOW_UPS], reply


def not_what_i_asked(kb: KnowledgeBase, store: ProgressStore | None, profile: str, last: Answered | None,
                     history: list[ChatMessage] | None) -> tuple[list[ChatMessage], list[str], ChatReply | None]:
    """Mark the last answer wrong for `profile` and show the question asked again: (history, follow-ups, reply)."""
    history = list(history or [])
    if not last or store is None:
        return history, [], None
    try:
        reply = kb.progress(profile or "default", store=store).not_what_i_asked(last["question"], last["card"])
    except KbError as exc:
        history.append({"role": "assistant", "content": f"⚠️ {note_markdown(str(exc))}"})
        return history, [], None
    history += [
        {"role": "user", "content": "*Not what I asked.*"},
        {"role": "assistant", "content": reply_markdown(reply)},
    ]
    return history, reply.follow_ups[:MAX_FOLLOW_UPS], reply


def answered(reply: ChatReply | None) -> Answered | None:
    """What "Not what I asked" would mark: the question and the card of an answer, else None."""
    if reply is None or reply.outcome != "answer" or reply.card is None:
        return None
    return {"question": reply.message, "card": reply.card.id}


def follow_up_updates(labels: list[str]) -> list[gr.Button]:
    import gradio as gr

    padded = list(labels[:MAX_FOLLOW_UPS]) + [None] * (MAX_FOLLOW_UPS - len(labels[:MAX_FOLLOW_UPS]))
    return [gr.Button(value=label or "", visible=bool(label)) for label in padded]


def build(kb: KnowledgeBase, nav: Nav, **services: Any) -> None:
    import gradio as gr

    store: ProgressStore | None
    try:
        store = progress_store(kb, services)
    except KbError:
        store = None  # the Interview tab shows the store's problem; the chat still answers, without marks

    chatbot = gr.Chatbot(
        label="Chat with your notes",
        elem_id="kb-chatbot",
        latex_delimiters=LATEX_DELIMITERS,
        sanitize_html=True,
        height=520,
        placeholder=PLACEHOLDER,
        feedback_options=None,
        buttons=["copy"],
    )
    with gr.Row(elem_id="kb-follow-ups"):
        follow_ups = [gr.Button("", visible=False, size="sm", elem_classes=["kb-follow-up"]) for _ in range(MAX_FOLLOW_UPS)]
        not_asked = gr.Button("Not what I asked", visible=False, size="sm", variant="secondary", elem_id="kb-chat-not-asked")
    with gr.Row():
        message = gr.Textbox(label="Ask", placeholder="Type a question and press Enter", scale=5, elem_id="kb-chat-input")
        recording = voice.microphone("kb-chat-audio", "Ask out loud")  # None without the voice extra
        send = gr.Button("Send", variant="primary", scale=1, elem_id="kb-chat-send")
        clear = gr.Button("Clear", scale=1, elem_id="kb-chat-clear")
        profile = gr.Textbox(label="Profile", value="default", max_lines=1, scale=1, elem_id="kb-chat-profile")

    voice_status = gr.Markdown("", elem_id="kb-chat-voice-status")
    topic = gr.State(None)  # the card the last answer came from: what "that" and "it" refer to
    if recording is not None:  # the transcript goes into the message box, to correct before sending
        voice.wire(recording, lambda path, text: voice.transcript_into(kb, path, text), inputs=[recording, message], outputs=[message, voice_status])

    last = gr.State(None)  # the last answer's question and card: what "Not what I asked" marks

    def turn(text: str, history: list[ChatMessage] | None, last_topic: str | None, who: str, last_answer: Answered | None) -> tuple[Any, ...]:
        new_history, cleared, labels, reply = respond(kb, text, history, last_topic, who, store)
        next_topic = reply.topic if reply is not None else last_topic
        marked = answered(reply) if reply is not None else last_answer
        return new_history, cleared, next_topic, marked, gr.Button(visible=marked is not None and store is not None), *follow_up_updates(labels)

    def reject(who: str, last_answer: Answered | None, history: list[ChatMessage] | None) -> tuple[Any, ...]:
        new_history, labels, reply = not_what_i_asked(kb, store, who, last_answer, history)
        marked = answered(reply)
        return new_history, reply.topic if reply is not None else None, marked, gr.Button(visible=marked is not None), *follow_up_updates(labels)

    outputs = [chatbot, message, topic, last, not_asked, *follow_ups]
    inputs = [message, chatbot, topic, profile, last]
    message.submit(turn, inputs=inputs, outputs=outputs, api_name="chat")
    send.click(turn, inputs=inputs, outputs=outputs, api_visibility="undocumented")
    for button in follow_ups:
        button.click(turn, inputs=[button, chatbot, topic, profile, last], outputs=outputs, api_visibility="undocumented")
    not_asked.click(reject, inputs=[profile, last, chatbot], outputs=[chatbot, topic, last, not_asked, *follow_ups], api_visibility="undocumented")
    clear.click(lambda: ([], "", None, None, gr.Button(visible=False), *follow_up_updates([])), outputs=outputs, queue=False,
                api_visibility="undocumented")
