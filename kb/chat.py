"""Grounded, offline Q&A over the cards: no LLM, every reply is a card's own answer with its citation.

`answer(kb, message, history) -> ChatReply`. Multi-turn: a follow-up that leans on the previous turn
("and why the clip?", "how is that different from TRPO?") is searched together with the previous
topic's question. When nothing matches well enough it says so plainly and names the nearest
families instead of answering. The UI only formats a ChatReply.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from .errors import KbError, QueryError

SEARCH_K = 12
MAX_CITATIONS = 2
SECOND_CITATION_MARGIN = 0.04  # cite a second card when its score is this close to the best one
MAX_FOLLOW_UPS = 3
LONG_ANSWER_CHARS = 1200  # longer answers are cut to their most relevant blocks
# Abstention is kb.search.is_confident (ABSTAIN_THRESHOLD, calibrated by benchmarks/eval_search.py).
# MIN_DENSE was this module's own calibration (top cosine, on the dev dialogues of
# benchmarks/eval_chat.py) before that landed; kept only for a search module without it.
MIN_DENSE = 0.33
# A follow-up's own words must not be plainly off-topic ("and what about pizza?") to borrow the
# previous topic: its standalone top cosine must reach this floor (below the abstention threshold).
FOLLOW_UP_FLOOR = 0.22

_CARD_LINK_RE = re.compile(r"\?card=([A-Za-z0-9%_\-]+)")
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9\-']*|\d+")
_ANAPHORA = frozenset("that this it its it's they them their those these there one ones former latter same".split())
_POSSESSIVES = frozenset({"its", "their"})
_FOLLOW_UP_OPENERS = ("and ", "but ", "so ", "then ", "also ", "what about", "how about", "why ", "why?", "how come", "compared", "versus", "vs ", "what if", "what else", "more on", "tell me more", "explain more", "go on", "in what way")
_STOP = frozenset(
    """a about an and are as at be been but by can could do does did for from get got has have how i if in into is it
    its it's me more my of on or so such than that the their them then there these they this those to too
    us versus vs was we what when where which who why will with would you your explain tell compare compared
    different difference differ between again also else same way mean means work works""".split()
)


@dataclass
class Citation:
    id: str
    question: str
    family: str
    score: float


@dataclass
class ChatReply:
    markdown: str  # the reply, markdown with $...$ LaTeX (typeset by the UI)
    citations: list[Citation] = field(default_factory=list)  # cards used, best first
    follow_ups: list[str] = field(default_factory=list)  # 2-3 questions the user may ask next
    abstained: bool = False  # True when nothing in the notes matches well enough
    query: str = ""  # what was searched (the message, or the message with the previous topic)
    used_context: bool = False  # True when the previous topic resolved a follow-up
    nearest_families: list[str] = field(default_factory=list)


# ---- history ------------------------------------------------------------------------------------
def _role_content(message) -> tuple[str, str]:
    if isinstance(message, dict):
        return str(message.get("role", "")), _text_of(message.get("content", ""))
    if isinstance(message, (list, tuple)) and len(message) == 2:  # old (user, assistant) pairs
        return "pair", ""
    return str(getattr(message, "role", "")), _text_of(getattr(message, "content", ""))


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("value") or "")
    if isinstance(content, (list, tuple)):
        return " ".join(_text_of(part) for part in content)
    return str(content or "")


def previous_topic(kb, history) -> str | None:
    """The card the last assistant turn answered from: the first card link in that turn."""
    for message in reversed(list(history or [])):
        if isinstance(message, (list, tuple)) and len(message) == 2:
            text = _text_of(message[1])
        else:
            role, text = _role_content(message)
            if role != "assistant":
                continue
        for raw in _CARD_LINK_RE.findall(text or ""):
            from urllib.parse import unquote

            card_id = unquote(raw)
            if kb.has_card(card_id):
                return card_id
        return None
    return None


# ---- follow-up detection ------------------------------------------------------------------------------
def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD_RE.findall(text or "")]


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in _STOP and len(w) > 1]


def looks_like_follow_up(message: str) -> bool:
    """Leans on the previous turn: a pronoun standing for the topic, or a follow-up opener."""
    low = " ".join((message or "").lower().split())
    if any(w in _ANAPHORA for w in words(low)):
        return True
    return low.startswith(_FOLLOW_UP_OPENERS) or (len(content_words(low)) <= 1 and len(words(low)) <= 5)


# ---- confidence ------------------------------------------------------------------------------------------
def confident(hits) -> bool:
    """Whether the hits are close enough to answer from: kb.search.is_confident."""
    from . import search

    shared = getattr(search, "is_confident", None)
    if shared is not None:
        return bool(shared(hits))
    return bool(hits) and hits[0].dense >= MIN_DENSE


def nearest_families(hits, n: int = 3) -> list[str]:
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
    blocks, current, in_math = [], [], False
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


def relevant_part(kb, card, query: str, max_chars: int = LONG_ANSWER_CHARS) -> tuple[str, bool]:
    """The card's answer, or for a long one its blocks most related to the query (in note order).

    Returns (markdown, was_cut).
    """
    answer = card.answer_md.strip()
    if len(answer) <= max_chars:
        return answer, False
    blocks = split_blocks(answer)
    if len(blocks) <= 1:
        return answer, False
    import numpy as np

    from .markdown import to_text

    vectors = kb.encoder.encode([to_text(b) or b for b in blocks])
    scores = vectors @ kb.encoder.encode_query(query)
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


def _card_link(card_id: str, label: str) -> str:
    from urllib.parse import quote

    safe = re.sub(r"([\[\]\\`*_<>])", r"\\\1", label)
    return f"[{safe}](?card={quote(card_id, safe='')})"


def follow_up_questions(kb, best_id: str, hits, exclude: set[str]) -> list[str]:
    """2-3 next questions: the card's see-also links first, then the runners-up of the search."""
    picks: list[str] = []
    candidates = []
    try:
        candidates += [(link.id, link.question) for link in kb.related(best_id, k=6)]
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


def _abstain(kb, message: str, hits, query: str) -> ChatReply:
    families = nearest_families(hits)
    shown = html.escape(" ".join(message.split())[:160], quote=False)  # the user's text, shown as text
    lines = [f"I don't know: nothing in your notes matches “{shown}” closely enough, so I won't guess."]
    if families:
        lines.append("The nearest families in your notes are " + ", ".join(f"**{f}**" for f in families) + ".")
    lines.append("Try rephrasing with the terms your notes use, or browse a family in the Browse tab.")
    suggestions = []
    for family in families[:MAX_FOLLOW_UPS]:
        cards = kb.family_cards(family)
        if cards:
            suggestions.append(cards[0].question)
    return ChatReply("\n\n".join(lines), [], suggestions, True, query, False, families)


def _search(kb, query: str):
    return kb.search(query, k=SEARCH_K, mode="hybrid")


def answer(kb, message: str, history=None) -> ChatReply:
    """Reply to `message` given the conversation so far (Gradio messages: dicts with role/content)."""
    try:
        hits = _search(kb, message)
    except QueryError as exc:
        return ChatReply(f"{exc}.", abstained=True)
    query, used_context = message, False
    topic_id = previous_topic(kb, history)
    if topic_id and looks_like_follow_up(message):
        topic = kb.card(topic_id)
        standalone_ok = confident(hits)
        new_words = [w for w in content_words(message) if w not in set(content_words(topic.question))]
        plausible = not new_words or (hits and hits[0].dense >= FOLLOW_UP_FLOOR)
        # "what about label smoothing?" names its own topic: a confident standalone search wins,
        # unless a pronoun ("that", "it") points back at the previous topic.
        names_own_topic = standalone_ok and new_words and not _anaphoric(message)
        if plausible and not names_own_topic:
            combined = f"{topic.question} {message}"
            context_hits = _search(kb, combined)
            if new_words and context_hits:
                # "how is that different from TRPO?": the card should match both the topic and the new words.
                context_hits = _rerank_with_standalone(context_hits, hits)
            if context_hits:
                hits, query, used_context = context_hits, combined, True
    if not hits or not confident(hits):
        return _abstain(kb, message, hits, query)
    best = hits[0]
    cited = [best]
    for hit in hits[1:]:
        if len(cited) >= MAX_CITATIONS:
            break
        if best.score - hit.score <= SECOND_CITATION_MARGIN and confident([hit]):
            cited.append(hit)
    body, cut = relevant_part(kb, best.card, message if not used_context else query)
    parts = [f"**{best.card.question}** · *{best.card.family}*", body]
    if cut:
        parts.append(f"*(the most relevant part; the whole answer is in {_card_link(best.card.id, 'the card')})*")
    sources = " · ".join(f"{_card_link(h.card.id, h.card.question)} ({h.card.family})" for h in cited)
    parts.append(f"**Sources:** {sources}")
    citations = [Citation(h.card.id, h.card.question, h.card.family, float(h.score)) for h in cited]
    follow_ups = follow_up_questions(kb, best.card.id, hits[1:], {h.card.id for h in cited})
    return ChatReply("\n\n".join(parts), citations, follow_ups, False, query, used_context, nearest_families(hits))


def _anaphoric(message: str) -> bool:
    """A pronoun standing for the previous topic. Possessives ("REINFORCE and its variance") usually
    point at a noun in the same message, so they do not count."""
    return any(w in _ANAPHORA and w not in _POSSESSIVES for w in words(message))


def _rerank_with_standalone(context_hits, standalone_hits):
    """Order the contextual hits by their score plus the standalone search's score for the same card."""
    standalone = {h.card.id: h.score for h in standalone_hits}
    floor = min(standalone.values()) if standalone else 0.0  # a card beyond the standalone list scores at most this
    return sorted(context_hits, key=lambda h: -(h.score + standalone.get(h.card.id, floor)))
