"""The chat's three outcomes (answer, closest, abstain) on a note written for these tests, the follow-up
rules after each, and "not what I asked" per profile (real model, real index, real SQLite file)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kb.cli.main import main
from kb.cli.terminal import render_reply, reply_payload
from kb.coach.progress import ProgressStore
from kb.ui.chat_tab import reply_text
from kb.vocab import plain_words, stemmer

SYSTEMS_NOTE = """# ML systems and sampling

## Training at scale

### Q: What is gradient accumulation?
Gradient accumulation sums the gradients of several micro-batches before one optimizer step, so that a large
effective batch fits in limited GPU memory. Each micro-batch loss is divided by the number of accumulation
steps, so the summed gradient equals the gradient of the large batch.

### Q: What is mixed precision training?
Mixed precision runs most matrix multiplications in fp16 or bf16 while keeping a master copy of the weights in
fp32. With fp16 a loss scale multiplies the loss before the backward pass so that small gradients do not
underflow; bf16 has the exponent range of fp32 and needs no loss scaling.

## Sampling

### Q: What is rejection sampling?
To sample from a density p that is hard to sample directly, draw x from a proposal q with p(x) <= M q(x) for a
constant M, and accept x with probability p(x) / (M q(x)). Accepted samples follow p exactly; the acceptance
rate is 1/M, so a loose bound wastes most draws.

### Q: What is importance sampling?
Importance sampling estimates an expectation under p with samples from another distribution q, weighting each
sample by p(x)/q(x). The estimate is unbiased, but its variance explodes when q puts little mass where p is large.

## Inference

### Q: What is the KV cache?
During autoregressive decoding, the keys and values of every previous token are stored so that each new token
attends to them without recomputing them. Memory grows linearly with sequence length, batch size and the
number of layers.

### Q: What is speculative decoding?
A small draft model proposes several tokens, and the large model checks them all in one forward pass, accepting
the longest prefix it agrees with. The output distribution is the large model's own, and decoding is faster
when the draft is usually right.
"""
ACCUMULATION = "what-is-gradient-accumulation"
KV_CACHE = "what-is-the-kv-cache"
ON_TOPIC = "why would I sum gradients over several micro-batches before stepping the optimizer?"
NEAR_MISS = "What is gradient clipping?"  # the same words as gradient accumulation, another subject
FAR = "how long should I boil an egg for a runny yolk"


@pytest.fixture(scope="module")
def systems_kb(tmp_path_factory, encoder):
    from tests.support import load_kb, write_notes

    corpus = write_notes(tmp_path_factory.mktemp("systems") / "corpus", {"systems.md": SYSTEMS_NOTE})
    return load_kb(corpus, encoder)


def test_a_covered_question_in_other_words_is_answered(systems_kb):
    reply = systems_kb.ask(ON_TOPIC)
    assert reply.outcome == "answer" and not reply.abstained
    assert reply.card.id == ACCUMULATION and reply.citations[0].id == ACCUMULATION and reply.topic == ACCUMULATION
    assert reply_payload(reply)["outcome"] == "answer"


def test_a_neighbouring_subject_gets_the_closest_card_with_what_it_lacks(systems_kb):
    reply = systems_kb.ask(NEAR_MISS)
    assert reply.outcome == "closest" and not reply.abstained
    assert reply.card.id == ACCUMULATION and reply.citations == [] and reply.topic is None  # nothing to borrow next turn
    assert "clipping" in reply.missing
    card_stems = set(stemmer().stemWords(plain_words(f"{reply.card.question} {reply.card.family} {reply.card.answer_text}")))
    for word in reply.missing:  # the words named as missing really are missing from the card
        assert stemmer().stemWord(word.lower()) not in card_stems, word
    assert [c.id for c in reply.nearest][0] == ACCUMULATION and len(reply.nearest) == 3
    assert reply.follow_ups == [c.question for c in reply.nearest[1:]]  # the next two cards
    shown = reply_text(reply)
    assert "may not cover this" in shown and "**clipping**" in shown and f"(?card={ACCUMULATION})" in shown
    assert "Sources:" not in shown
    terminal = render_reply(reply)
    assert "may not cover this" in terminal and "clipping" in terminal
    payload = reply_payload(reply)
    assert payload["outcome"] == "closest" and payload["abstained"] is False and payload["card"] == ACCUMULATION


@pytest.mark.parametrize("question", [FAR, "who won the 1998 football world cup", "how do I center a div in CSS"])
def test_a_question_far_from_every_card_abstains_never_closest(systems_kb, question):
    reply = systems_kb.ask(question)
    assert reply.outcome == "abstain" and reply.abstained
    assert reply.card is None and reply.topic is None and reply.citations == []


def test_after_an_abstention_the_suggestions_are_the_nearest_cards(systems_kb):
    reply = systems_kb.ask("what does torch.compile do?")
    assert reply.outcome == "abstain"
    nearest = [hit.card.question for hit in systems_kb.search("what does torch.compile do?", k=3)]
    assert reply.follow_ups == nearest == [c.question for c in reply.nearest]
    assert "I don't know" in reply_text(reply) and "don't cover" in render_reply(reply)  # rendered as an abstention


def test_a_follow_up_never_borrows_a_closest_or_abstained_topic(systems_kb):
    closest = systems_kb.ask(NEAR_MISS)
    follow = systems_kb.ask("and why does that help?", topic=closest.topic)
    assert closest.topic is None and not follow.used_context
    answered = systems_kb.ask(ON_TOPIC)
    follow = systems_kb.ask("and why divide the loss?", topic=answered.topic)
    assert follow.used_context and follow.card.id == ACCUMULATION


def test_not_what_i_asked_holds_for_that_profile_and_question_only(systems_kb, tmp_path):
    path = tmp_path / "progress.sqlite3"
    with ProgressStore(path) as store:
        first = systems_kb.ask(ON_TOPIC, profile="ana", store=store)
        assert first.card.id == ACCUMULATION
        again = systems_kb.progress("ana", store=store).not_what_i_asked(ON_TOPIC, ACCUMULATION)
        assert again.card is None or again.card.id != ACCUMULATION
        assert again.outcome in ("closest", "answer", "abstain")
        # the same question in other case and punctuation is the same question
        assert systems_kb.ask(ON_TOPIC.upper().rstrip("?"), profile="ana", store=store).card.id != ACCUMULATION
        # another profile, and the shipped calibration, are untouched
        assert systems_kb.ask(ON_TOPIC, profile="bo", store=store).card.id == ACCUMULATION
        assert systems_kb.ask(ON_TOPIC).card.id == ACCUMULATION
        assert store.correction_counts("ana")["not_what_i_asked"] == 1
    with ProgressStore(path) as reopened:  # stored, not held in memory
        assert systems_kb.ask(ON_TOPIC, profile="ana", store=reopened).card.id != ACCUMULATION
        check = systems_kb.progress("ana", store=reopened).check_chat()
        assert check.pairs == 1 and check.answered_from_marked_card == 1 and check.outcomes["answer"] == 1


def test_kb_ask_marks_and_reports_from_the_command_line(systems_kb, tmp_path):
    base = ["--corpus", str(systems_kb.config.corpus), "--index", str(systems_kb.config.index), "--data", str(tmp_path / "data")]
    out = CliRunner().invoke(main, ["ask", NEAR_MISS, "--json", *base])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.output.strip().splitlines()[-1])
    assert payload["outcome"] == "closest" and "clipping" in payload["missing"]
    out = CliRunner().invoke(main, ["ask", ON_TOPIC, "--not-what-i-asked", ACCUMULATION, "--profile", "ana", "--json", *base])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output.strip().splitlines()[-1])["card"] != ACCUMULATION
    later = json.loads(CliRunner().invoke(main, ["ask", ON_TOPIC, "--profile", "ana", "--json", *base]).output.strip().splitlines()[-1])
    assert later["card"] != ACCUMULATION
    other = json.loads(CliRunner().invoke(main, ["ask", ON_TOPIC, "--profile", "bo", "--json", *base]).output.strip().splitlines()[-1])
    assert other["card"] == ACCUMULATION and other["outcome"] == "answer"
    report = CliRunner().invoke(main, ["calibrate", "chat", "--profile", "ana", "--json", *base])
    assert report.exit_code == 0, report.output
    assert json.loads(report.output.strip().splitlines()[-1])["pairs"] == 1
    conversation = CliRunner().invoke(main, ["ask", "--profile", "cy", *base], input=f"{KV_CACHE.replace('-', ' ')}\nnot what I asked\n\n")
    assert conversation.exit_code == 0 and "Noted:" in conversation.output
    stats = json.loads(CliRunner().invoke(main, ["stats", "--json", "--profile", "cy", *base]).output)
    assert stats["corrections"]["not_what_i_asked"] == 1
