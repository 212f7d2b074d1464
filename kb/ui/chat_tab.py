"""Chat tab: grounded offline Q&A over the cards. The logic is kb/chat.py; this module only formats."""
from __future__ import annotations

from ..chat import MAX_FOLLOW_UPS, ChatReply, answer
from .render import LATEX_DELIMITERS, note_markdown, user_markdown

PLACEHOLDER = "Ask about your notes, e.g. *why does PPO clip the ratio?* Follow-ups like *how is that different from TRPO?* use the conversation so far."


def reply_markdown(reply: ChatReply) -> str:
    """The assistant message: the reply's markdown with currency dollars made safe for KaTeX."""
    return note_markdown(reply.markdown)


def respond(kb, message: str, history: list | None) -> tuple[list, str, list[str], ChatReply | None]:
    """One chat turn: (new history, cleared input, follow-up labels, the reply). Plain values only."""
    history = list(history or [])
    if not (message or "").strip():
        return history, "", [], None
    reply = answer(kb, message, history)
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
        send = gr.Button("Send", variant="primary", scale=1, elem_id="kb-chat-send")
        clear = gr.Button("Clear", scale=1, elem_id="kb-chat-clear")

    def turn(text, history):
        new_history, cleared, labels, _reply = respond(kb, text, history)
        return new_history, cleared, *follow_up_updates(labels)

    outputs = [chatbot, message, *follow_ups]
    message.submit(turn, inputs=[message, chatbot], outputs=outputs, api_name="chat")
    send.click(turn, inputs=[message, chatbot], outputs=outputs, api_visibility="undocumented")
    for button in follow_ups:
        button.click(turn, inputs=[button, chatbot], outputs=outputs, api_visibility="undocumented")
    clear.click(lambda: ([], "", *follow_up_updates([])), outputs=outputs, queue=False, api_visibility="undocumented")
