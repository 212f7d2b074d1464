"""The concept glossary is derived from the notes: checked on the shipped note and on other people's notes."""
from __future__ import annotations

import pytest

from kb.notes.concepts import build_glossary, defined_subject, initials_match, is_acronym
from kb.notes.corpus import load_corpus, parse_note
from tests.support import ALEXEY, SALVATORE, SHIPPED_CORPUS


@pytest.fixture(scope="module")
def shipped():
    return build_glossary(load_corpus(SHIPPED_CORPUS).cards)


def glossary_of(path, name):
    text = (path / name).read_text(encoding="utf-8")
    return build_glossary(parse_note(text, name).cards)


def test_acronym_shapes_and_spelled_out_forms():
    for token in ("KL", "PPO", "ELBO", "QR-DQN", "InfoNCE", "SimCLR", "C51", "L2", "MAP-Elites"):
        assert is_acronym(token), token
    for token in ("ALL", "IS", "Huber", "Kullback-Leibler", "a", "RL connection"):
        assert not is_acronym(token), token
    assert initials_match("GAE", "Generalized Advantage Estimation")
    assert initials_match("KL", "Kullback-Leibler")
    assert initials_match("ToT", "Tree of Thoughts")
    assert initials_match("WGAN", "Wasserstein GAN")
    assert not initials_match("PPO", "Trust Region Policy Optimization")
    assert not initials_match("GAE", "the advantage")


def test_defining_questions_give_their_subject():
    assert defined_subject("What is distributional RL and why does it help?") == ["distributional RL"]
    assert defined_subject("Explain GAE (Generalized Advantage Estimation).") == ["GAE", "Generalized Advantage Estimation"]
    assert defined_subject("How does PPO work? Why the clip?") == ["PPO"]
    assert defined_subject("What does label smoothing do?") == ["label smoothing"]
    assert defined_subject("What's the difference between forward and reverse KL?") == []
    assert defined_subject("Why use Huber loss instead of MSE for TD error?") == []


def test_shipped_note_concepts_and_their_homes(shipped):
    def home(name):
        concept = shipped.find(name)
        assert concept is not None, f"{name} is not in the glossary"
        return concept.home

    assert home("PPO") == "how-does-ppo-work-why-the-clip"
    assert home("ELBO") == "explain-the-vae-loss-elbo"
    assert home("InfoNCE") == "explain-infonce"
    assert home("RLHF") == "walk-me-through-the-rlhf-pipeline"
    assert home("distributional RL") == "what-is-distributional-rl-and-why-does-it-help"
    assert home("Huber") == "when-do-you-use-mse-vs-mae-vs-huber"  # the card that defines it in bold
    assert home("WGAN") == "why-did-wgan-improve-on-the-original-gan-loss"
    assert home("spectral normalization") == "whats-spectral-normalization-and-why-does-wgan-need-it"
    # An acronym and its spelled-out form are one concept, from the general glossary when the note never spells it out.
    kl = shipped.find("Kullback-Leibler")
    assert kl is not None and kl is shipped.find("KL")
    # WGAN's card says "spectral norm"; the glossary knows it is spectral normalization.
    assert "whats-spectral-normalization-and-why-does-wgan-need-it" in shipped.find("spectral norm").mentions
    assert "why-did-wgan-improve-on-the-original-gan-loss" in shipped.find("spectral normalization").mentions


def test_shipped_glossary_has_no_labels_or_generic_words(shipped):
    names = {c.name.casefold() for c in shipped.concepts.values()}
    for label in ("one-liner", "interview tip", "why it matters", "problem", "fix", "properties", "variance", "rl connection", "all", "is"):
        assert label not in names, label
    for concept in shipped.concepts.values():
        assert 2 <= len(concept.mentions) <= max(4, len(shipped.by_card) // 4), concept.name
        assert concept.home is None or concept.home in concept.mentions


def test_expansions_written_in_the_notes_join_their_acronym():
    note = """## Policy gradients

### Q: Explain the advantage estimator.

We use Generalized Advantage Estimation (GAE) with lambda 0.95.

### Q: Why does GAE lower variance?

GAE averages n-step returns. The generalized advantage estimation trick trades bias for variance.
"""
    glossary = build_glossary(parse_note(note, "rl.md").cards)
    gae = glossary.find("GAE")
    assert gae is not None and glossary.find("generalized advantage estimation") is gae
    assert gae.home == "why-does-gae-lower-variance"
    assert gae.mentions == ["explain-the-advantage-estimator", "why-does-gae-lower-variance"]


def test_external_corpus_alexey(external_corpora):
    glossary = glossary_of(external_corpora, ALEXEY)
    assert len(glossary.concepts) >= 30
    assert glossary.find("gradient descent").home == "what-is-gradient-descent-how-does-it-work"
    assert glossary.find("random forest").home == "what-is-random-forest"
    assert glossary.find("SGD") is glossary.find("stochastic gradient descent")
    assert glossary.find("ROC").home == "what-is-the-roc-curve-when-to-use-it"
    # Nothing from the shipped note leaks in: the glossary is the corpus's own.
    assert glossary.find("PPO") is None and glossary.find("InfoNCE") is None


def test_external_corpus_salvatore(external_corpora):
    glossary = glossary_of(external_corpora, SALVATORE)
    rag = glossary.find("RAG")
    assert rag is not None and rag is glossary.find("Retrieval Augmented Generation")
    assert rag.home == "what-is-retrieval-augmented-generation-rag"
    rnn = glossary.find("RNN")
    assert rnn is glossary.find("recurrent neural network") and rnn.home == "what-is-recurrent-neural-network-rnn"
    assert glossary.find("CoT") is glossary.find("chain of thought") and glossary.find("CoT").home == "what-is-chain-of-thought-cot"
    assert glossary.find("LLMs") is glossary.find("LLM")  # plurals are the same concept
