"""Cross-links between cards ("see also"), each with a reason, and the topic graph built from them.

Three sources, combined into one score per candidate card (weights in WEIGHTS):
  1. explicit wiki-links written in the notes (kb.notes.wikilinks), either direction;
  2. shared concepts (kb.notes.concepts): a card that mentions a concept links to the concept's home
     ("explains PPO"), the home links back to cards that use it ("uses PPO"), and two cards that
     share a concept no card explains link weakly ("both mention Laplace");
  3. similarity: cosine of the cards' question+answer vectors plus tf-idf word overlap ("similar topic").
Similarity is added to every candidate, so when several sources agree the link ranks higher.
Same-family neighbours are allowed (WEIGHTS["same_family"] = 0): expert pairs are often siblings
(diffusion / flow matching, PSRO / NeuPL), and the tuning on the dev pairs found no gain in a penalty.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kb.links.layout import force_layout
from kb.notes.cards import Card
from kb.notes.concepts import Glossary, build_glossary
from kb.notes.wikilinks import LinkResolver
from kb.vocab import stem_all, words

WEIGHTS = {
    "explicit": 2.0,  # written by the author: above anything similarity alone can reach (<= 1.5)
    "explicit_back": 1.2,  # the other card links here
    "home": 0.55,  # this card mentions a concept the other card explains
    "user": 0.3,  # this card explains a concept the other card uses
    "shared": 0.35,  # both mention a concept that neither explains
    "semantic": 1.0,  # times the cosine similarity (question+answer vectors)
    "lexical": 0.5,  # times the tf-idf cosine of the cards' words (rare shared words: "Laplace", "saturates")
    "agreement": 0.05,  # per extra source that found the same card
    "same_family": 0.0,  # cards of the same note section: the author grouped them, the family list shows them
}
QUESTION_MENTION = 1.0  # a concept named in the question is the card's topic ...
ANSWER_MENTION = 0.7  # ... one named only in the answer is used in passing
SIMILAR_REASON_MIN = 0.45  # below this similarity, "similar topic" is not worth adding to another reason
DEFAULT_K = 6


@dataclass
class Link:
    id: str
    question: str
    family: str
    reason: str
    score: float

    def to_dict(self) -> dict[str, Any]:  # JSON-ready
        return {"id": self.id, "question": self.question, "family": self.family, "reason": self.reason, "score": round(float(self.score), 4)}


@dataclass
class _Candidate:
    explicit: float = 0.0
    concept: float = 0.0
    reasons: list[tuple[float, str]] = field(default_factory=list)  # (strength, short human reason)
    sources: set[str] = field(default_factory=set)

    def add(self, source: str, value: float, reason: str, slot: str) -> None:
        if slot == "explicit":
            self.explicit = max(self.explicit, value)
        else:
            # The strongest concept counts fully; each further shared concept adds a little.
            self.concept = max(self.concept, value) + 0.25 * min(self.concept, value)
        self.reasons.append((value, reason))
        self.sources.add(source)


class LinkGraph:
    """Everything the links need, built once per index: glossary, wiki-link resolver, vectors."""

    def __init__(self, cards: list[Card], vectors: np.ndarray, synonyms: list[tuple[str, ...]] | None = None) -> None:
        self.cards = cards
        self.index = {c.id: i for i, c in enumerate(cards)}
        self.glossary: Glossary = build_glossary(cards, synonyms)  # synonyms: the vocabulary in use (None: the default packs)
        self.resolver = LinkResolver(cards)
        full = np.asarray(vectors[:, 1, :], dtype=np.float32)
        self.vectors = full / np.maximum(np.linalg.norm(full, axis=1, keepdims=True), 1e-12)
        self.group = [(c.note, c.family) for c in cards]
        self.lexical = _tfidf_vectors([c.answer_text for c in cards])  # answers: question templates ("Default X?") are not topics
        self.question_key = [re.sub(r"\W+", " ", c.question.casefold()).strip() for c in cards]
        self.explicit_out: dict[int, list[tuple[int, str]]] = {}
        self.explicit_in: dict[int, list[tuple[int, str]]] = {}
        for i, card in enumerate(cards):
            for link in card.links:
                target = self.resolver.resolve(link, card.note)
                if target is None:
                    continue
                j = self._pick_target(i, [self.index[t] for t in target.card_ids if t in self.index])
                if j is None or j == i:
                    continue
                what = {"card": "linked in the note", "family": f"linked section: {target.label}", "note": f"linked note: {target.label}"}[target.kind]
                self.explicit_out.setdefault(i, []).append((j, what))
                self.explicit_in.setdefault(j, []).append((i, "links here"))

    def _pick_target(self, i: int, candidates: list[int]) -> int | None:
        """A family or note link opens its card most related to the linking card (the first one on a tie)."""
        candidates = [j for j in candidates if j != i]
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        sims = self.vectors[candidates] @ self.vectors[i]
        return candidates[int(np.argmax(sims))]

    def related(self, card_id: str, k: int = DEFAULT_K) -> list[Link]:
        i = self.index[card_id]
        sims = self.vectors @ self.vectors[i] + WEIGHTS["lexical"] * (self.lexical @ self.lexical[i])
        cands: dict[int, _Candidate] = {}

        def cand(j: int) -> _Candidate:
            return cands.setdefault(j, _Candidate())

        for j, why in self.explicit_out.get(i, []):
            cand(j).add("explicit", WEIGHTS["explicit"], why, "explicit")
        for j, why in self.explicit_in.get(i, []):
            cand(j).add("explicit", WEIGHTS["explicit_back"], why, "explicit")

        me = self.cards[i].id
        for mention in self.glossary.by_card.get(me, []):
            concept = self.glossary.concepts[mention.concept]
            spec = self.glossary.specificity(concept.key)
            where = QUESTION_MENTION if mention.in_question else ANSWER_MENTION
            home = self.index.get(concept.home) if concept.home else None
            if home is not None and home != i:
                cand(home).add("concept", WEIGHTS["home"] * spec * where, f"explains {concept.name}", "concept")
            elif home == i:
                for other in concept.mentions:
                    j = self.index[other]
                    if j != i:
                        their = next((m for m in self.glossary.by_card[other] if m.concept == concept.key), None)
                        w = QUESTION_MENTION if their and their.in_question else ANSWER_MENTION
                        cand(j).add("concept", WEIGHTS["user"] * spec * w, f"uses {concept.name}", "concept")
            else:
                for other in concept.mentions:
                    j = self.index[other]
                    theirs = next((m for m in self.glossary.by_card[other] if m.concept == concept.key), None)
                    if not mention.in_question and not (theirs and theirs.in_question) and len(concept.mentions) > 2:
                        continue  # answers using a common term in passing; a term only these two use still counts
                    if j != i and j != home:
                        cand(j).add("concept", WEIGHTS["shared"] * spec * where, f"both mention {concept.name}", "concept")

        # Semantic neighbours; those of the same family pay WEIGHTS["same_family"] below.
        order = np.argsort(-sims)
        taken = 0
        for j in order:
            j = int(j)
            if j == i:
                continue
            cand(j).sources.add("semantic")
            taken += 1
            if taken >= max(3 * k, 20):
                break

        scored = []
        for j, c in cands.items():
            if j == i or self.question_key[j] == self.question_key[i]:
                continue
            sim = float(sims[j])
            score = c.explicit + c.concept + WEIGHTS["semantic"] * sim
            if self.group[j] == self.group[i]:
                score -= WEIGHTS["same_family"]  # the family list already shows these side by side
            score += WEIGHTS["agreement"] * max(0, len(c.sources) - 1)
            scored.append((score, j, c, sim))
        scored.sort(key=lambda t: (-t[0], t[1]))

        links, seen_questions = [], set()
        for score, j, c, sim in scored:
            if self.question_key[j] in seen_questions:
                continue  # the same question in two notes: one link is enough
            seen_questions.add(self.question_key[j])
            card = self.cards[j]
            links.append(Link(card.id, card.question, card.family, _reason(c, sim), score))
            if len(links) >= k:
                break
        return links


def _tfidf_vectors(texts: list[str]) -> np.ndarray:
    """L2-normalised tf-idf rows over stemmed words (sublinear tf); words in one card only are dropped."""
    docs = [stem_all(words(t)) for t in texts]
    vocab: dict[str, int] = {}
    df: dict[str, int] = {}
    for doc in docs:
        for w in set(doc):
            df[w] = df.get(w, 0) + 1
    idf: list[float] = []
    for w, n in df.items():
        if 2 <= n <= max(2, len(docs) // 2):
            vocab[w] = len(vocab)
            idf.append(float(np.log(len(docs) / n)))
    matrix = np.zeros((len(docs), max(1, len(vocab))), dtype=np.float32)
    for row, doc in enumerate(docs):
        counts: dict[int, int] = {}
        for w in doc:
            if w in vocab:
                counts[vocab[w]] = counts.get(vocab[w], 0) + 1
        for col, tf in counts.items():
            matrix[row, col] = (1 + np.log(tf)) * idf[col]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalized: np.ndarray = matrix / np.maximum(norms, 1e-12)
    return normalized


def _reason(c: _Candidate, sim: float) -> str:
    """Short and human: the strongest one or two reasons, e.g. "explains PPO · similar topic"."""
    parts: list[str] = []
    for _, why in sorted(c.reasons, key=lambda r: -r[0]):
        if why not in parts:
            parts.append(why)
    parts = parts[:2]
    if len(parts) < 2 and (not parts or sim >= SIMILAR_REASON_MIN):
        parts.append("similar topic")
    return " · ".join(parts)


def related_links(graph: LinkGraph, card_id: str, k: int = DEFAULT_K) -> list[Link]:
    """The k best see-also links for a card, ranked and deduplicated, each with its reason."""
    return graph.related(card_id, max(1, int(k)))


def plain_neighbours(graph: LinkGraph, card_id: str, k: int = DEFAULT_K) -> list[str]:
    """The baseline: the k nearest cards by question+answer vector, any family (for benchmarks)."""
    i = graph.index[card_id]
    sims = graph.vectors @ graph.vectors[i]
    sims[i] = -np.inf
    return [graph.cards[int(j)].id for j in np.argsort(-sims)[:k]]


@dataclass
class TopicGraph:
    """Cards as nodes, see-also links as undirected edges (the strongest reason kept)."""

    nodes: list[dict[str, str]]  # {"id", "question", "family", "note"} in corpus order
    edges: list[tuple[int, int, float, str]]  # (node index, node index, score, reason), a < b

    def view(self, family: str | None = None) -> tuple[list[int], list[tuple[int, int, str]], np.ndarray]:
        """What a map of `family` (None: all) shows: the node indexes kept (the family and the cards it
        links to), edges between them as (position, position, reason), and positions in [0, 1]^2."""
        keep = list(range(len(self.nodes)))
        if family:
            inside = {i for i, node in enumerate(self.nodes) if node["family"] == family}
            linked = {j for a, b, _, _ in self.edges for i, j in ((a, b), (b, a)) if i in inside}
            keep = sorted(inside | linked)
        index = {old: new for new, old in enumerate(keep)}
        edges = [(index[a], index[b], reason) for a, b, _, reason in self.edges if a in index and b in index]
        group_names = list(dict.fromkeys(self.nodes[i]["family"] for i in keep))
        groups = [group_names.index(self.nodes[i]["family"]) for i in keep]
        return keep, edges, force_layout(len(keep), [(a, b) for a, b, _ in edges], groups)


def topic_graph(graph: LinkGraph, per_card: int = 3) -> TopicGraph:
    """The graph the Topic map draws: each card's `per_card` best links, merged both ways."""
    nodes = [{"id": c.id, "question": c.question, "family": c.family, "note": c.note} for c in graph.cards]
    best: dict[tuple[int, int], tuple[float, str]] = {}
    for i, card in enumerate(graph.cards):
        for link in graph.related(card.id, per_card):
            j = graph.index[link.id]
            key = (min(i, j), max(i, j))
            if key not in best or best[key][0] < link.score:
                best[key] = (link.score, link.reason)
    edges = [(a, b, score, reason) for (a, b), (score, reason) in sorted(best.items())]
    return TopicGraph(nodes, edges)
