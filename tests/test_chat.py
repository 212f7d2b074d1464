"""The chat (kb.ask, kb/coach/chat.py): grounded replies as data, with citations, follow-ups,
multi-turn resolution and abstention; and the web app's rendering of them (real model)."""
from __future__ import annotations

import re

import pytest

from kb.coach import chat
from kb.ui.chat_tab import reply_text

PPO = "how-does-ppo-work-why-the-clip"
PPO_VS = "ppo-vs-trpo-vs-sac-when-to-use-each"


def converse(kb, messages):
    replies, topic = [], None
    for message in messages:
        reply = kb.ask(message, topic=topic)
        replies.append(reply)
        topic = reply.topic  # kept as data by the caller, never parsed back out of rendered text
    return replies


def test_answer_is_the_cards_answer_with_its_citation(shipped_kb):
    reply = shipped_kb.ask("why does PPO clip the probability ratio?")
    card = shipped_kb.card(PPO)
    assert not reply.abstained and reply.card == card and reply.topic == PPO
    assert reply.citations[0].id == PPO and reply.citations[0].question == card.question
    assert reply.excerpt == card.answer_md.strip() and not reply.cut  # the note's own words and formulas, byte-exact
    shown = reply_text(reply)  # the web app's rendering: links that open the cited cards
    assert card.answer_md.strip() in shown
    for citation in reply.citations:
        assert f"(?card={citation.id})" in shown
    assert "Sources:" in shown
    assert "?card=" not in reply.excerpt  # the core returns data; links are the surface's business


def test_follow_ups_are_other_real_questions(shipped_kb):
    reply = shipped_kb.ask("what is focal loss")
    questions = {c.question for c in shipped_kb.cards()}
    cited = {c.question for c in reply.citations}
    assert 2 <= len(reply.follow_ups) <= 3
    assert len(set(reply.follow_ups)) == len(reply.follow_ups)
    assert all(q in questions and q not in cited for q in reply.follow_ups)


@pytest.mark.parametrize("message", ["best pizza in Rome", "how do I center a div", "what's the weather in Oslo tomorrow", "recommend a sci-fi novel"])
def test_off_topic_abstains_plainly_and_names_nearest_families(shipped_kb, message):
    reply = shipped_kb.ask(message)
    families = {f for f, _ in shipped_kb.families()}
    assert reply.abstained and reply.citations == [] and reply.card is None and reply.topic is None
    shown = reply_text(reply)
    assert shown.startswith("I don't know")
    assert "?card=" not in shown
    assert reply.nearest_families and set(reply.nearest_families) <= families
    for family in reply.nearest_families:
        assert f"**{family}**" in shown


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
    alone = shipped_kb.ask("how is that different from TRPO?")
    assert not alone.used_context


def test_a_topic_that_is_no_longer_a_card_is_ignored(shipped_kb):
    with_stale = shipped_kb.ask("how is that different from TRPO?", topic="gone-card")
    alone = shipped_kb.ask("how is that different from TRPO?")
    assert not with_stale.used_context and with_stale.citations == alone.citations


def test_empty_message_and_html_are_handled(shipped_kb):
    empty = shipped_kb.ask("   ")
    assert empty.abstained and "empty query" in empty.error and "empty query" in reply_text(empty)
    hostile = shipped_kb.ask("<img src=x onerror=alert(1)> best pizza in Rome")
    assert hostile.abstained and "<img" not in reply_text(hostile)


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
"""  # noqa: E501 (a note paragraph is one line, as people write them)


def test_long_answer_is_cut_to_its_most_relevant_part(make_kb):
    kb = make_kb({"gan.md": LONG_NOTE})
    card = kb.cards()[0]
    assert len(card.answer_md) > chat.LONG_ANSWER_CHARS
    part, cut = chat.relevant_part(kb.encoder, card, "what is the WGAN-GP gradient penalty formula")
    assert cut and len(part) < len(card.answer_md)
    assert "gradient penalty of WGAN-GP is written as:" in part
    assert re.search(r"\$\$\n\\lambda.*\n\$\$", part)  # the formula it introduces comes with it
    reply = kb.ask("what is the gradient penalty in WGAN-GP")
    assert reply.cut and "gradient penalty of WGAN-GP is written as:" in reply.excerpt
    assert "most relevant part" in reply_text(reply) and f"?card={card.id}" in reply_text(reply)


def test_split_blocks_keeps_display_math_whole():
    blocks = chat.split_blocks("a\n\n$$\nx\n\ny\n$$\n\nb")
    assert blocks == ["a", "$$\nx\n\ny\n$$", "b"]
