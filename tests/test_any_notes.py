"""Quality that holds on notes nobody tuned for: search floors on the frozen test files of every
corpus (vocabulary off, and the default vocabulary no more than 0.02 lower), a chat that says "not
in your notes", vocabulary packs the user controls, and `kb ask` in a real process.

The test files (benchmarks/eval/**) were frozen in their own commit before any tuning
(docs/search.md names it); the floors are the measured figure less about 0.03, or the issue's
target where that is lower (docs/search.md reports both).
"""
from __future__ import annotations

import json

import pytest

from kb.cli.terminal import render_reply
from kb.ui.chat_tab import reply_text
from tests.support import BENCHMARKS, kb_env, kb_subprocess, load_kb, read_jsonl, write_notes

EVAL = BENCHMARKS / "eval"
PPO = "how-does-ppo-work-why-the-clip"
# corpus -> (R@1 floor, R@5 floor) for hybrid search on its frozen test file, vocabulary off
SEARCH_FLOORS = {"shipped": (0.87, 0.94), "external": (0.85, 0.97), "added": (0.85, 0.97)}
ABSTAIN_FLOOR = {"shipped": 0.87, "added": 0.92}  # uncovered near-domain test questions declined
# Covered questions (dev data since the chat's edge files were frozen): answered from an expected card, and
# that card shown at all (answered, or offered as the closest card when the judge is unsure).
ON_TOPIC_FLOOR = 0.85
SHOWN_FLOOR = 0.90
ONCE_COVERED_FLOOR = 0.92  # the uncovered questions, answered from the right card once the covering corpus is added


def recall(kb, queries: list[dict]) -> tuple[float, float]:
    r1 = r5 = 0
    for q in queries:
        ranked = [h.card.id for h in kb.search(q["query"], k=5)]
        r1 += bool(ranked) and ranked[0] in q["expected"]
        r5 += any(card_id in q["expected"] for card_id in ranked)
    return r1 / len(queries), r5 / len(queries)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SEARCH_FLOORS))
def test_search_holds_on_every_corpus_with_the_vocabulary_off(eval_corpora, name):
    queries = read_jsonl(EVAL / "search" / f"{name}.test.jsonl")
    r1_none, r5_none = recall(eval_corpora(name, "none"), queries)
    floor1, floor5 = SEARCH_FLOORS[name]
    assert r1_none >= floor1 and r5_none >= floor5, f"{name}, KB_VOCAB=none: R@1 {r1_none:.2f} (floor {floor1}), R@5 {r5_none:.2f} (floor {floor5})"
    r1_ml, r5_ml = recall(eval_corpora(name, "ml"), queries)
    # The goal is "at most 0.02 lower"; on 40 queries one query is 0.025, so one query is the finest
    # step this file can measure (the added corpus's test file loses exactly one: docs/search.md).
    slack = max(0.02, 1 / len(queries))
    assert r1_ml >= r1_none - slack and r5_ml >= r5_none - slack, \
        f"{name}: the ml pack costs recall: R@1 {r1_ml:.2f} vs {r1_none:.2f}, R@5 {r5_ml:.2f} vs {r5_none:.2f}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ABSTAIN_FLOOR))
def test_chat_does_not_answer_uncovered_questions_as_covered(eval_corpora, name):
    kb = eval_corpora(name, "none")
    rows = [r for r in read_jsonl(EVAL / "chat" / f"uncovered.{name}.jsonl") if r["split"] == "test"]
    alone = [r["question"] for r in rows if kb.ask(r["question"]).outcome == "answer"]  # closest and abstain both say "maybe not"
    opener = kb.ask(kb.cards()[0].question)
    assert opener.outcome == "answer"
    mid = [r["question"] for r in rows if kb.ask(r["question"], topic=opener.topic).outcome == "answer"]
    floor = ABSTAIN_FLOOR[name]
    assert 1 - len(alone) / len(rows) >= floor, f"{name}: answered {len(alone)}/{len(rows)} uncovered questions: {alone}"
    assert 1 - len(mid) / len(rows) >= floor, f"{name}: mid-conversation, answered {len(mid)}/{len(rows)} uncovered questions: {mid}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["shipped", "external", "added"])
def test_chat_still_answers_what_the_notes_cover(eval_corpora, name):
    kb = eval_corpora(name, "none")
    rows = [r for r in read_jsonl(EVAL / "chat" / f"covered.{name}.jsonl") if r["split"] == "test"]
    wrong, unseen = [], []
    for r in rows:
        reply = kb.ask(r["question"])
        if reply.outcome != "answer" or reply.citations[0].id not in r["expected"]:
            wrong.append(r["question"])
        if reply.card is None or reply.card.id not in r["expected"]:  # neither answered from it nor shown as the closest card
            unseen.append(r["question"])
    assert 1 - len(wrong) / len(rows) >= ON_TOPIC_FLOOR, f"{name}: {len(wrong)}/{len(rows)} covered questions not answered from their card: {wrong}"
    assert 1 - len(unseen) / len(rows) >= SHOWN_FLOOR, f"{name}: {len(unseen)}/{len(rows)} covered questions never shown their card: {unseen}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ABSTAIN_FLOOR))
def test_chat_answers_them_once_a_covering_note_is_added(eval_corpora, name):
    rows = [r for r in read_jsonl(EVAL / "chat" / f"uncovered.{name}.jsonl") if r["split"] == "test" and r.get("covered_by")]
    wrong = []
    for r in rows:
        kb = eval_corpora("+".join(sorted((name, r["covered_by"]["corpus"]))), "none")
        reply = kb.ask(r["question"])
        if reply.abstained or reply.citations[0].id not in r["covered_by"]["expected"]:
            wrong.append(r["question"])
    assert 1 - len(wrong) / len(rows) >= ONCE_COVERED_FLOOR, f"{name}: {len(wrong)}/{len(rows)} not answered from the covering card: {wrong}"


def test_a_new_subject_never_borrows_the_previous_card(shipped_kb):
    first = shipped_kb.ask("how does PPO work?")
    assert first.topic == PPO
    reply = shipped_kb.ask("What makes ReLU neurons die, and how do you prevent it?", topic=first.topic)
    assert reply.outcome != "answer" and not reply.used_context, reply.citations
    assert reply.nearest, "a reply that does not answer names the nearest cards the notes do have"
    unknown = shipped_kb.ask("explain dropout", topic=first.topic)  # a subject the notes never mention
    assert unknown.outcome != "answer" and not unknown.used_context, unknown.citations
    follow = shipped_kb.ask("and why the clip?", topic=first.topic)
    assert follow.used_context and follow.citations[0].id == PPO


def test_one_shared_rare_word_is_not_enough(shipped_kb):
    # "optimizer" is a rare word of the shipped note, on a card about something else (NeuPL).
    reply = shipped_kb.ask("how does the Adam optimizer work")
    assert reply.outcome != "answer", f"answered from {reply.citations[0].id if reply.citations else None}"


CLUSTERING_NOTE = """## Clustering

### Q: How does K-means pick its clusters?
K-means places k centroids, assigns every point to its nearest centroid, moves each centroid to the mean
of its points, and repeats until the assignments stop changing. It needs k up front and assumes round,
similarly sized clusters.

### Q: What are some of the issues with clustering?
Results depend on the distance measure and on feature scaling, the number of clusters is rarely known,
and elongated or nested clusters defeat centroid methods. Outliers drag centroids away from dense regions.

### Q: How do you choose the number of clusters?
Plot the within-cluster sum of squares against k and look for the elbow, or pick the k with the best
silhouette score; the gap statistic compares the fit with that on uniform random data.

### Q: How does the hierarchical clustering algorithm work?
The agglomerative algorithm starts with every point alone and merges the two closest clusters until one
remains; the dendrogram shows the merges, and cutting it at a height gives the clusters.

## Evaluation

### Q: What is the silhouette score?
For each point, compare the mean distance to its own cluster with the mean distance to the nearest other
cluster; the score runs from -1 to 1 and higher means tighter, better separated clusters.

### Q: Why scale features before clustering?
Distances are dominated by the features with the largest ranges, so unscaled income swamps age;
standardising puts the features on a common scale.
"""


def test_a_name_the_notes_never_mention_is_not_answered(tmp_path, encoder):
    kb = load_kb(write_notes(tmp_path / "corpus", {"clustering.md": CLUSTERING_NOTE}), encoder, vocab="none")
    known = kb.ask("How does the K-means clustering algorithm work?")
    assert not known.abstained and known.citations[0].id == "how-does-k-means-pick-its-clusters"
    unknown = kb.ask("How does the DBSCAN clustering algorithm work?")  # another clustering algorithm: near, not covered
    assert unknown.outcome != "answer" and unknown.unfamiliar == ["DBSCAN"], unknown.citations
    assert unknown.nearest, "the reply still names the nearest cards"
    assert "DBSCAN" in render_reply(unknown) and "**DBSCAN**" in reply_text(unknown)
    # In the middle of a conversation the unfamiliar name does not borrow the previous topic either.
    follow = kb.ask("and how does DBSCAN differ from that?", topic=known.topic)
    assert follow.outcome != "answer" and not follow.used_context


@pytest.mark.slow
def test_another_name_for_a_cards_subject_is_still_answered(eval_corpora):
    # The shipped note says "WGAN" but never "Wasserstein": the card is close enough to answer anyway.
    kb = eval_corpora("shipped", "none")
    assert kb.retriever.unfamiliar_terms("Why does the Wasserstein GAN train more stably?") == ["Wasserstein"]
    reply = kb.ask("Why does the Wasserstein GAN train more stably?")
    assert not reply.abstained and reply.citations[0].id == "why-did-wgan-improve-on-the-original-gan-loss"


@pytest.mark.slow
def test_a_name_only_one_card_asks_about_points_at_that_card(eval_corpora):
    # The small encoder does not know "InfoNCE" (dense 0.34 to "Explain InfoNCE.", under the shipped
    # note's floor), but only that card's question names it, so the chat answers from it.
    kb = eval_corpora("shipped", "none")
    question = "Why does InfoNCE work better with large batch sizes?"
    assert kb.retriever.card_named_by(question).id == "explain-infonce"
    reply = kb.ask(question)
    assert not reply.abstained and reply.citations[0].id == "explain-infonce"
    assert kb.retriever.card_named_by("Why is the original GAN loss unstable?") is None  # several cards ask about GANs


# ---- vocabulary the user controls ---------------------------------------------------------------------

SYNONYM_NOTE = """## Regression

### Q: What is the Huber loss?
Quadratic for small residuals and linear for large ones, so outliers pull less than under squared error.

### Q: What does the learning rate control?
The step size of each gradient update.
"""


def test_vocabulary_packs_and_the_users_own_lists(tmp_path, encoder):
    corpus = write_notes(tmp_path / "corpus", {"notes.md": SYNONYM_NOTE})
    with_ml = load_kb(corpus, encoder)
    assert with_ml.vocabulary.packs == ("ml",)
    assert any(h.lexical > 0 for h in with_ml.search("smooth l1", k=2, mode="lexical")[:1]), "the ml pack folds 'smooth L1' into Huber"
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["vocabulary"]["packs"] == ["ml"] and "packs/ml/synonyms.txt" in manifest["vocabulary"]["files"]

    plain = load_kb(corpus, encoder, vocab="none")
    assert plain.report.embedded == 0, "changing the vocabulary rebuilds the keyword index, never the vectors"
    assert plain.vocabulary.packs == ()
    assert all(h.lexical == 0 for h in plain.search("smooth l1", k=2, mode="lexical")), "with no pack, nothing folds 'smooth L1'"
    assert json.loads((tmp_path / "index" / "manifest.json").read_text())["vocabulary"]["packs"] == []

    (corpus / ".kb").mkdir()
    (corpus / ".kb" / "synonyms.txt").write_text("# mine\neta | learning rate   # the step size\n", encoding="utf-8")
    mine = load_kb(corpus, encoder, vocab="none")  # the user's lists are read under every setting
    hits = mine.search("eta", k=1, mode="lexical")
    assert hits and hits[0].card.question == "What does the learning rate control?" and hits[0].lexical > 0
    assert ".kb/synonyms.txt" in json.loads((tmp_path / "index" / "manifest.json").read_text())["vocabulary"]["files"]
    assert [c.id for c in mine.cards()] == [c.id for c in with_ml.cards()], "a .kb folder is not a note"


def test_an_unknown_pack_is_a_clear_error(tmp_path):
    corpus = write_notes(tmp_path / "corpus", {"notes.md": SYNONYM_NOTE})
    done = kb_subprocess("search", "huber", "--corpus", corpus, "--index", tmp_path / "index", "--vocab", "medicine", env=kb_env(tmp_path))
    assert done.returncode == 1 and "unknown vocabulary pack 'medicine'" in done.stderr and "none" in done.stderr, done.stderr


# ---- kb ask, in a real process --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ask_env(shipped_kb, tmp_path_factory):
    env = kb_env(tmp_path_factory.mktemp("ask"), KB_CORPUS=str(shipped_kb.config.corpus), KB_INDEX=str(shipped_kb.config.index))
    return env


def test_kb_ask_one_question_as_json(ask_env):
    done = kb_subprocess("ask", "why does PPO clip the probability ratio?", "--json", env=ask_env)
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert set(reply) == {"outcome", "answer_md", "abstained", "card", "citations", "follow_ups", "nearest", "missing"}
    assert reply["outcome"] == "answer" and not reply["abstained"] and reply["citations"][0]["id"] == PPO == reply["card"]
    assert set(reply["citations"][0]) == {"id", "question", "family", "score"}
    assert "$$" in reply["answer_md"] and "?card=" not in reply["answer_md"]  # terminal text, formulas as written
    assert 2 <= len(reply["follow_ups"]) <= 3


def test_kb_ask_queries_file_one_line_each_in_order(ask_env, tmp_path):
    questions = tmp_path / "questions.txt"
    questions.write_text("how does PPO work?\nwhat is the best pizza in Rome\n", encoding="utf-8")
    done = kb_subprocess("ask", "--queries", questions, env=ask_env)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["query"] for line in lines] == ["how does PPO work?", "what is the best pizza in Rome"]
    assert lines[0]["citations"][0]["id"] == PPO and not lines[0]["abstained"]
    assert lines[1]["abstained"] and lines[1]["citations"] == [] and lines[1]["nearest"]
    assert "don't cover" in lines[1]["answer_md"]


def test_kb_ask_session_on_stdin_follows_up(ask_env):
    done = kb_subprocess("ask", "--json", env=ask_env, input="how does PPO work?\nand why the clip?\n")
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["citations"][0]["id"] == PPO and second["citations"][0]["id"] == PPO
