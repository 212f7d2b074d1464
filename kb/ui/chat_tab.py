"""Chat tab: grounded offline Q&A over the cards. The logic is kb.ask (kb/coach/chat.py); this module renders its replies."""
from __future__ import annotations

import html
import re
from urllib.parse import quote

from kb import ChatReply
from kb.ui import voice
from kb.ui.render import LATEX_DELIMITERS, note_markdown, user_markdown

MAX_FOLLOW_UPS = 3

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
        lines.append("Try rephrasing with the terms your notes use, or browse a family in the Browse tab.")
        return "\n\n".join(lines)
    card = reply.card
    parts = [f"**{card.question}** · *{card.family}*", reply.excerpt]
    if reply.cut:
        parts.append(f"*(the most relevant part; the whole answer is in {_card_link(card.id, 'the card')})*")
    sources = " · ".join(f"{_card_link(c.id, c.question)} ({c.family})" for c in reply.citations)
    parts.append(f"**Sources:** {sources}")
    return "\n\n".join(parts)


def reply_markdown(reply: ChatReply) -> str:
    """The assistant message: the reply's markdown with currency dollars made safe for KaTeX."""
    return note_markdown(reply_text(reply))


def respond(kb, message: str, history: list | None, topic: str | None = None) -> tuple[list, str, list[str], ChatReply | None]:
    """One chat turn: (new history, cleared input, follow-up labels, the reply). `topic` is the last reply's topic."""
    history = list(history or [])
    if not (message or "").strip():
        return history, "", [], None
    reply = kb.ask(message, topic=topic if history else None)
    history += [
        {"role": "user", "content": user_markdown(message)},
        {"role": "assistant", "content": reply_markdown(reply)},
    ]
    return history, "", reply.follow_ups[:MAX_FOLLOW_UPS], reply


def follow_up_updates(labels: list[str]) -> list:
    import gradio as gr

    padded = list(labels[:MAX_FOLLOW_UPS]) + [None] * (MAX_FOLLOW_UPS - len(labels[:MAX_FOLLOW_UPS]))
    return [gr.Button(value=label or "", visible=bool(label)) for label in padded]


def build(kb, nav, **_services):
    import gradio as gr

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
    with gr.Row():
        message = gr.Textbox(label="Ask", placeholder="Type a question and press Enter", scale=5, elem_id="kb-chat-input")
        recording = voice.microphone("kb-chat-audio", "Ask out loud")  # None without the voice extra
        send = gr.Button("Send", variant="primary", scale=1, elem_id="kb-chat-send")
        clear = gr.Button("Clear", scale=1, elem_id="kb-chat-clear")

    voice_status = gr.Markdown("", elem_id="kb-chat-voice-status")
    topic = gr.State(None)  # the card the last answer came from: what "that" and "it" refer to
    if recording is not None:  # the transcript goes into the message box, to correct before sending
        voice.wire(recording, lambda path, text: voice.transcript_into(kb, path, text), inputs=[recording, message], outputs=[message, voice_status])

    def turn(text, history, last_topic):
        new_history, cleared, labels, reply = respond(kb, text, history, last_topic)
        next_topic = reply.topic if reply is not None else last_topic
        return new_history, cleared, next_topic, *follow_up_updates(labels)

    outputs = [chatbot, message, topic, *follow_ups]
    message.submit(turn, inputs=[message, chatbot, topic], outputs=outputs, api_name="chat")
    send.click(turn, inputs=[message, chatbot, topic], outputs=outputs, api_visibility="undocumented")
    for button in follow_ups:
        button.click(turn, inputs=[button, chatbot, topic], outputs=outputs, api_visibility="undocumented")
    clear.click(lambda: ([], "", None, *follow_up_updates([])), outputs=outputs, queue=False, api_visibility="undocumented")
