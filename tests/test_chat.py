"""kb.chat: grounded replies with citations, follow-ups, multi-turn resolution and abstention (real model)."""
from __future__ import annotations

import re

import pytest

from kb import chat

PPO = "how-does-ppo-work-why-the-clip"
PPO_VS = "ppo-vs-trpo-vs-sac-when-to-use-each"


def converse(kb, messages):
    history, replies = [], []
    for message in messages:
        reply = chat.answer(kb, message, history)
        replies.append(reply)
        history += [{"role": "user", "content": message}, {"role": "assistant", "content": reply.markdown}]
    return replies


def test_answer_is_the_cards_answer_with_its_citation(shipped_kb):
    reply = chat.answer(shipped_kb, "why does PPO clip the probability ratio?", [])
    card = shipped_kb.card(PPO)
    assert not reply.abstained
    assert reply.citations[0].id == PPO and reply.citations[0].question == card.question
    assert card.answer_md in reply.markdown  # the note's own words and formulas, byte-exact
    for citation in reply.citations:
        assert f"(?card={citation.id})" in reply.markdown
    assert "Sources:" in reply.markdown


def test_follow_ups_are_other_real_questions(shipped_kb):
    reply = chat.answer(shipped_kb, "what is focal loss", [])
    questions = {c.question for c in shipped_kb.cards}
    cited = {c.question for c in reply.citations}
    assert 2 <= len(reply.follow_ups) <= 3
    assert len(set(reply.follow_ups)) == len(reply.follow_ups)
    assert all(q in questions and q not in cited for q in reply.follow_ups)


@pytest.mark.parametrize("message", ["best pizza in Rome", "how do I center a div", "what's the weather in Oslo tomorrow", "recommend a sci-fi novel"])
def test_off_topic_abstains_plainly_and_names_nearest_families(shipped_kb, message):
    reply = chat.answer(shipped_kb, message, [])
    families = {f for f, _ in shipped_kb.families()}
    assert reply.abstained and reply.citations == []
    assert reply.markdown.startswith("I don't know")
    assert "?card=" not in reply.markdown
    assert reply.nearest_families and set(reply.nearest_families) <= families
    for family in reply.nearest_families:
        assert f"**{family}**" in reply.markdown


def test_follow_up_resolves_that_to_the_previous_topic(shipped_kb):
    first, second = converse(shipped_kb, ["how does PPO work?", "how is that different from TRPO?"])
    assert first.citations[0].id == PPO
    assert second.used_context and second.citations[0].id == PPO_VS
    assert shipped_kb.card(PPO).question in second.query


def test_short_follow_up_stays_on_topic(shipped_kb):
    _, second = converse(shipped_kb, ["how does PPO work?", "and why the clip?"])
    assert second.used_context and second.citations[0].id == PPO


def test_follow_up_naming_a_new_topic_is_searched_alone(shipped_kb):
    _, second = converse(shipped_kb, ["what is focal loss", "what about label smoothing?"])
    assert not second.used_context
    assert second.citations[0].id == "what-does-label-smoothing-do"


def test_off_topic_follow_up_does_not_borrow_the_topic(shipped_kb):
    _, second = converse(shipped_kb, ["how does PPO work?", "and what about pizza?"])
    assert second.abstained and not second.citations


def test_same_words_without_history_are_not_resolved(shipped_kb):
    alone = chat.answer(shipped_kb, "how is that different from TRPO?", [])
    assert not alone.used_context


def test_history_in_other_shapes_and_stale_links(shipped_kb):
    class Message:  # gr.ChatMessage-like object
        def __init__(self, role, content):
            self.role, self.content = role, content

    ppo = chat.answer(shipped_kb, "how does PPO work?", [])
    for history in (
        [Message("user", "how does PPO work?"), Message("assistant", ppo.markdown)],
        [("how does PPO work?", ppo.markdown)],
        [{"role": "assistant", "content": [{"type": "text", "text": ppo.markdown}]}],
    ):
        assert chat.previous_topic(shipped_kb, history) == PPO
    assert chat.previous_topic(shipped_kb, [{"role": "assistant", "content": "[x](?card=gone-card)"}]) is None
    assert chat.previous_topic(shipped_kb, None) is None


def test_empty_message_and_html_are_handled(shipped_kb):
    empty = chat.answer(shipped_kb, "   ", [])
    assert empty.abstained and "empty query" in empty.markdown
    hostile = chat.answer(shipped_kb, "<img src=x onerror=alert(1)> best pizza in Rome", [])
    assert "<img" not in hostile.markdown


def test_looks_like_follow_up():
    assert chat.looks_like_follow_up("and why the clip?")
    assert chat.looks_like_follow_up("how is that different from TRPO?")
    assert chat.looks_like_follow_up("why?")
    assert not chat.looks_like_follow_up("explain the ELBO of a variational autoencoder")


LONG_NOTE = """## Long Answers

### Q: What are all the tricks for training stable GANs?
Training GANs is notoriously unstable and many tricks exist; this answer lists several of them in turn.

Spectral normalization constrains the Lipschitz constant of the discriminator by dividing each weight matrix by its largest singular value, estimated with power iteration.

Two time-scale update rules use a larger learning rate for the discriminator than for the generator so the discriminator stays near its optimum.

The gradient penalty of WGAN-GP is written as:

$$
\\lambda \\, \\mathbb{E}_{\\hat x}\\left[(\\lVert \\nabla_{\\hat x} D(\\hat x) \\rVert_2 - 1)^2\\right]
$$

Minibatch discrimination lets the discriminator look at a whole batch, which discourages mode collapse because identical samples are easy to spot.

Label flipping and one-sided label smoothing keep the discriminator from becoming overconfident on real data early in training.

Exponential moving averages of generator weights give smoother samples at evaluation time, at no training cost at all.

Progressive growing starts at low resolution and adds layers as training proceeds, which stabilises high-resolution synthesis considerably.

Instance noise adds small Gaussian noise to both real and generated images, so the two distributions overlap and the discriminator cannot separate them perfectly early on.

Feature matching trains the generator to match the mean activations of an intermediate discriminator layer on real data instead of maximising the discriminator output directly.
"""


def test_long_answer_is_cut_to_its_most_relevant_part(make_kb):
    kb = make_kb({"gan.md": LONG_NOTE})
    card = kb.cards[0]
    assert len(card.answer_md) > chat.LONG_ANSWER_CHARS
    part, cut = chat.relevant_part(kb, card, "what is the WGAN-GP gradient penalty formula")
    assert cut and len(part) < len(card.answer_md)
    assert "gradient penalty of WGAN-GP is written as:" in part
    assert re.search(r"\$\$\n\\lambda.*\n\$\$", part)  # the formula it introduces comes with it
    reply = chat.answer(kb, "what is the gradient penalty in WGAN-GP", [])
    assert "most relevant part" in reply.markdown and f"?card={card.id}" in reply.markdown


def test_split_blocks_keeps_display_math_whole():
    blocks = chat.split_blocks("a\n\n$$\nx\n\ny\n$$\n\nb")
    assert blocks == ["a", "$$\nx\n\ny\n$$", "b"]
