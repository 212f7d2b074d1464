"""Grounded, offline Q&A over the cards: no LLM, every reply is a card's own answer with its citation.

`answer(search, related, encoder, message, topic, rejected) -> ChatReply`, where `topic` is the previous reply's `topic` (a
card id, kept by the caller as data). A follow-up that leans on it ("and why the clip?", "how is that
different from TRPO?") is searched together with that card's question. Every reply has one of three
outcomes (kb.retrieval.coverage judges which):
  answer   the card answers the question: its words, cited;
  closest  the notes have something near it, maybe not this: the nearest card, the question's words it
           never uses, and the next two cards;
  abstain  nothing near: the nearest cards only as suggestions.
`rejected` names cards the user said do not answer this question ("not what I asked"): they are never
the answer to it again. A ChatReply is data; the surfaces turn it into links and markdown.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from kb.coach.contracts import ChatSearch, RelatedLinks, TextEncoder
from kb.errors import KbError, QueryError
from kb.notes.cards import Card
from kb.notes.markdown import to_text
from kb.retrieval.coverage import Outcome
from kb.retrieval.search import UNFAMILIAR_NAME_QUANTILE, Hit, is_confident
from kb.vocab import CONVERSATION_WORDS

SEARCH_K = 12
MAX_CITATIONS = 2
MAX_FOLLOW_UPS = 3
NEAREST_SHOWN = 3  # cards named when the notes do not cover a question (the closest card and the next two)
MAX_MISSING_SHOWN = 4  # the question's words a closest card never uses, rarest first
LONG_ANSWER_CHARS = 1200  # longer answers are cut to their most relevant blocks
# The model-dependent thresholds are the search's `thresholds` (kb/calibration.py, recalibrated per model):
#   chat.follow_up_floor: a follow-up's own words must not be plainly off-topic ("and what about pizza?") to
#     borrow the previous topic: its standalone top cosine must reach it (below the abstention threshold);
#   chat.second_citation_margin: a second card is cited when its score is this close to the best one;
#   chat.name_push_tolerance: how much closer a question may get to its top card once an unfamiliar name is
#     taken out: about what dropping one ordinary word moves a cosine. More, and the name pulled away.
MAX_NEW_WORDS_TO_BORROW = 3  # content words a follow-up may add to the previous topic ("and how does it compare with DQN?")

_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9\-']*|\d+")
_ANAPHORA = frozenset("that this it its it's they them their those these there one ones former latter same".split())
_POSSESSIVES = frozenset({"its", "their"})
_FOLLOW_UP_OPENERS = ("and ", "but ", "so ", "then ", "also ", "what about", "how about", "why ", "why?", "how come", "compared", "versus",
                      "vs ", "what if", "what else", "more on", "tell me more", "explain more", "go on", "in what way")


@dataclass
class Citation:
    id: str
    question: str
    family: str
    score: float


@dataclass
class ChatReply:
    message: str  # what the user asked, whitespace-normalised
    card: Card | None = None  # the card answered from, or for `closest` the nearest card; None when abstaining
    excerpt: str = ""  # the card's answer (markdown, $...$ LaTeX), or its part most relevant to the question
    cut: bool = False  # True when `excerpt` is only part of the card's answer
    citations: list[Citation] = field(default_factory=list)  # cards answered from, best first (only for `answer`)
    follow_ups: list[str] = field(default_factory=list)  # 2-3 questions the user may ask next
    outcome: Outcome = "answer"
    query: str = ""  # what was searched (the message, or the message with the previous topic)
    used_context: bool = False  # True when the previous topic resolved a follow-up
    nearest_families: list[str] = field(default_factory=list)
    nearest: list[Citation] = field(default_factory=list)  # unless answered: the closest cards the notes do have
    unfamiliar: list[str] = field(default_factory=list)  # names in the question the notes never mention
    missing: list[str] = field(default_factory=list)  # for `closest`: the question's words the nearest card never uses
    chance: float | None = None  # the coverage judge's chance that the top card answers the question
    error: str = ""  # why the message could not be searched (empty, unusable)

    @property
    def abstained(self) -> bool:
        """True only for `abstain`: nothing in the notes is near the question."""
        return self.outcome == "abstain"

    @property
    def topic(self) -> str | None:
        """The card id the next turn's follow-ups refer back to: only a card that answered."""
        return self.card.id if self.card is not None and self.outcome == "answer" else None


# ---- follow-up detection ------------------------------------------------------------------------------
def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD_RE.findall(text or "")]


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in CONVERSATION_WORDS and len(w) > 1]


def looks_like_follow_up(message: str) -> bool:
    """Leans on the previous turn: a pronoun standing for the topic, or a follow-up opener."""
    low = " ".join((message or "").lower().split())
    if any(w in _ANAPHORA for w in words(low)):
        return True
    return low.startswith(_FOLLOW_UP_OPENERS) or (len(content_words(low)) <= 1 and len(words(low)) <= 5)


# ---- confidence ------------------------------------------------------------------------------------------
# The plain rule, search.confident(hits) (the search's threshold and the corpus's coverage floor), still
# decides a second citation and whether a follow-up's own words are a question of their own.
def about_unfamiliar_name(search: ChatSearch, hits: list[Hit], message: str, unfamiliar: list[str]) -> bool:
    """When the question names something the notes never mention ("DBSCAN"), the top card must be
    about it under another name ("Wasserstein GAN" for WGAN), not merely share the question's other
    words ("How does the X clustering algorithm work?"): it must reach a stricter floor, and the name
    must not push the question away from it."""
    if hits[0].dense < search.coverage_floor(UNFAMILIAR_NAME_QUANTILE):
        return False
    without = re.sub("|".join(rf"\b{re.escape(name)}\b" for name in unfamiliar), " ", message)
    return not without.strip() or search.closeness(without, hits[0].card.id) - hits[0].dense <= search.thresholds["chat.name_push_tolerance"]


def nearest_families(hits: Sequence[Hit], n: int = 3) -> list[str]:
    seen: list[str] = []
    for hit in hits:
        if hit.card.family not in seen:
            seen.append(hit.card.family)
        if len(seen) == n:
            break
    return seen


# ---- composing -------------------------------------------------------------------------------------------
def split_blocks(markdown: str) -> list[str]:
    """Blank-line separated blocks, keeping a $$...$$ display formula in one block."""
    blocks: list[str] = []
    current: list[str] = []
    in_math = False
    for line in (markdown or "").split("\n"):
        if line.strip() == "" and not in_math:
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        current.append(line)
        if line.count("$$") % 2 == 1:
            in_math = not in_math
    if current:
        blocks.append("\n".join(current))
    return blocks


def relevant_part(encoder: TextEncoder, card: Card, query: str, max_chars: int = LONG_ANSWER_CHARS) -> tuple[str, bool]:
    """The card's answer, or for a long one its blocks most related to the query (in note order).

    Returns (markdown, was_cut).
    """
    answer = card.answer_md.strip()
    if len(answer) <= max_chars:
        return answer, False
    blocks = split_blocks(answer)
    if len(blocks) <= 1:
        return answer, False
    vectors = encoder.encode([to_text(b) or b for b in blocks])
    scores = vectors @ encoder.encode_query(query)
    chosen, used = set(), 0
    for i in np.argsort(-scores):
        if used and used + len(blocks[i]) > max_chars:
            continue
        chosen.add(int(i))
        used += len(blocks[i])
        # A block ending in ':' introduces the next one (often a formula): keep them together.
        if blocks[i].rstrip().endswith(":") and i + 1 < len(blocks):
            chosen.add(int(i) + 1)
            used += len(blocks[i + 1])
        if used >= max_chars:
            break
    return "\n\n".join(blocks[i] for i in sorted(chosen)), True


def follow_up_questions(related: RelatedLinks, best_id: str, hits: list[Hit], exclude: set[str]) -> list[str]:
    """2-3 next questions: the card's see-also links first, then the runners-up of the search."""
    picks: list[str] = []
    candidates = []
    try:
        candidates += [(link.id, link.question) for link in related(best_id, 6)]
    except KbError:
        pass
    candidates += [(hit.card.id, hit.card.question) for hit in hits]
    for card_id, question in candidates:
        if card_id in exclude or question in picks:
            continue
        picks.append(question)
        if len(picks) == MAX_FOLLOW_UPS:
            break
    return picks


def _citation(hit: Hit) -> Citation:
    return Citation(hit.card.id, hit.card.question, hit.card.family, float(hit.score))


def _abstain(message: str, hits: list[Hit], query: str, unfamiliar: Sequence[str] = (), chance: float | None = None) -> ChatReply:
    """Nothing near: the nearest cards are offered as what to ask instead."""
    nearest = [_citation(h) for h in hits[:NEAREST_SHOWN]]
    return ChatReply(message, outcome="abstain", follow_ups=[c.question for c in nearest], query=query,
                     nearest_families=nearest_families(hits), nearest=nearest, unfamiliar=list(unfamiliar), chance=chance)


def _closest(encoder: TextEncoder, message: str, hits: list[Hit], query: str, missing: list[str], chance: float | None,
             unfamiliar: list[str]) -> ChatReply:
    """Something near, maybe not this: the nearest card, what of the question it never mentions, and the next two."""
    best = hits[0]
    body, cut = relevant_part(encoder, best.card, query)
    nearest = [_citation(h) for h in hits[:NEAREST_SHOWN]]
    return ChatReply(message, best.card, body, cut, follow_ups=[c.question for c in nearest[1:]], outcome="closest", query=query,
                     nearest_families=nearest_families(hits), nearest=nearest, unfamiliar=list(unfamiliar),
                     missing=missing[:MAX_MISSING_SHOWN], chance=chance)


def _search(search: ChatSearch, query: str) -> list[Hit]:
    return search.search(query, k=SEARCH_K, mode="hybrid")


def answer(search: ChatSearch, related: RelatedLinks, encoder: TextEncoder, message: str, topic: str | None = None,
           rejected: Collection[str] = ()) -> ChatReply:
    """Reply to `message`; `topic` is the previous reply's topic (a card id), None for a fresh conversation;
    `rejected` the cards the user marked as not answering this question."""
    shown = " ".join(str(message or "").split())
    try:
        hits = _search(search, message)
    except QueryError as exc:
        return ChatReply(shown, outcome="abstain", error=str(exc))
    query, used_context = message, False
    topic_id = topic if topic and search.has_card(topic) else None
    if topic_id and looks_like_follow_up(message):
        previous = search.card(topic_id)
        standalone_ok = search.confident(hits)
        new_words = [w for w in content_words(message) if w not in set(content_words(previous.question))]
        # A message that brings a subject of its own ("what makes ReLU neurons die, and how do you
        # prevent it?") is a new question even with a pronoun: it never borrows the previous card.
        # So is one that names something the notes never mention ("explain dropout" after PPO).
        unknown = [w for w in new_words if not search.knows(w)]
        floor = search.thresholds["chat.follow_up_floor"]
        plausible = not unknown and (not new_words or (len(new_words) <= MAX_NEW_WORDS_TO_BORROW and hits and hits[0].dense >= floor))
        # "what about label smoothing?" names its own topic: a confident standalone search wins,
        # unless a pronoun ("that", "it") points back at the previous topic.
        names_own_topic = standalone_ok and new_words and not _anaphoric(message)
        if plausible and not names_own_topic:
            combined = f"{previous.question} {message}"
            context_hits = _search(search, combined)
            if new_words and context_hits:
                # "how is that different from TRPO?": the card should match both the topic and the new words.
                context_hits = _rerank_with_standalone(context_hits, hits)
            if context_hits:
                hits, query, used_context = context_hits, combined, True
    hits = [h for h in hits if h.card.id not in rejected]  # "not what I asked": never this card for this question
    # Names in what was asked: one the notes never use ("DBSCAN") raises the bar (a borrowed topic does
    # not excuse it); one that a single card's question uses ("InfoNCE") points at that card.
    unfamiliar = search.unfamiliar_terms(message)
    if not hits:
        return _abstain(shown, hits, query, unfamiliar)
    judgement = search.judge_coverage(query, hits)
    if judgement.outcome != "answer" or (unfamiliar and not about_unfamiliar_name(search, hits, message, unfamiliar)):
        named = None if unfamiliar else named_hit(search, message, hits)
        if named is not None:  # the question names one card ("InfoNCE"): answer from it
            hits = [named] + [h for h in hits if h is not named]
        elif judgement.outcome == "abstain":
            return _abstain(shown, hits, query, unfamiliar, judgement.chance)
        else:
            return _closest(encoder, shown, hits, query, judgement.signals.missing_words, judgement.chance, unfamiliar)
    best = hits[0]
    cited = [best]
    for hit in hits[1:]:
        if len(cited) >= MAX_CITATIONS:
            break
        if best.score - hit.score <= search.thresholds["chat.second_citation_margin"] and search.confident([hit]):
            cited.append(hit)
    body, cut = relevant_part(encoder, best.card, message if not used_context else query)
    citations = [_citation(h) for h in cited]
    follow_ups = follow_up_questions(related, best.card.id, hits[1:], {h.card.id for h in cited})
    return ChatReply(shown, best.card, body, cut, citations, follow_ups, "answer", query, used_context, nearest_families(hits),
                     chance=judgement.chance)


def named_hit(search: ChatSearch, message: str, hits: list[Hit]) -> Hit | None:
    """The hit of the card the question names, when exactly one card's question names what the question
    names and that hit reaches the search's threshold: the small encoder does not know many names
    ("InfoNCE"), so its dense score alone would leave a question about that very card unanswered."""
    named = search.card_named_by(message)
    return next((h for h in hits if named is not None and h.card.id == named.id
                 and is_confident([h], 0.0, search.thresholds["search.abstain_threshold"])), None)


def _anaphoric(message: str) -> bool:
    """A pronoun standing for the previous topic. Possessives ("REINFORCE and its variance") usually
    point at a noun in the same message, so they do not count."""
    return any(w in _ANAPHORA and w not in _POSSESSIVES for w in words(message))


def _rerank_with_standalone(context_hits: list[Hit], standalone_hits: list[Hit]) -> list[Hit]:
    """Order the contextual hits by their score plus the standalone search's score for the same card."""
    standalone = {h.card.id: h.score for h in standalone_hits}
    floor = min(standalone.values()) if standalone else 0.0  # a card beyond the standalone list scores at most this
    return sorted(context_hits, key=lambda h: -(h.score + standalone.get(h.card.id, floor)))
